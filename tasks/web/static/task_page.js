// A task's own page (GET /tasks/<id> in a browser): its detail, kept live from
// /tasks/<id>/events, with Cancel and Run again. Task data is only ever written with
// textContent and attributes.
"use strict";

(() => {
  const { TERMINAL, errorMessage, render } = window.tasksDetail;
  const base = document.body.dataset.base || "/";
  const root = document.getElementById("task-detail");
  const live = document.getElementById("live");
  const cancel = root.querySelector("button.cancel");
  const rerun = root.querySelector("button.rerun");
  const status = root.querySelector(".detail-status");
  const taskUrl = (id) => `${base}tasks/${encodeURIComponent(id)}`;
  let record = JSON.parse(document.body.dataset.record);

  // Parent and children as links to their own pages.
  function taskLink(id) {
    const link = document.createElement("a");
    link.className = "task-link";
    link.href = taskUrl(id);
    link.title = id;
    link.textContent = id.slice(0, 8);
    return link;
  }

  function show(next) {
    record = next;
    render(root, record, taskLink);
    document.querySelector(".page-task-name").textContent = record.name;
    const ended = TERMINAL.includes(record.state);
    cancel.hidden = ended;
    rerun.hidden = !ended;
  }

  async function act(button, method, url, done) {
    button.disabled = true;
    status.textContent = "";
    try {
      const response = await fetch(url, { method });
      if (!response.ok) {
        status.textContent = await errorMessage(response);
        return;
      }
      done(await response.json());
    } catch (error) {
      status.textContent = `could not reach the server: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  }

  function follow() {
    const source = new EventSource(`${taskUrl(record.id)}/events`);
    source.onopen = () => {
      live.dataset.status = "open";
      live.textContent = "live";
    };
    source.onerror = () => {
      if (TERMINAL.includes(record.state)) {
        source.close(); // the stream ends with the task
        live.dataset.status = "ended";
        live.textContent = "ended";
        return;
      }
      live.dataset.status = "lost";
      live.textContent = "reconnecting…";
    };
    source.onmessage = (event) => {
      try {
        show(JSON.parse(event.data));
      } catch {
        // not a record: ignore
      }
    };
  }

  cancel.addEventListener("click", () =>
    act(cancel, "DELETE", taskUrl(record.id), (answer) => show(answer)),
  );
  rerun.addEventListener("click", () =>
    act(rerun, "POST", `${taskUrl(record.id)}/rerun`, (answer) => {
      window.location.assign(taskUrl(answer.id));
    }),
  );
  show(record);
  follow();
})();
