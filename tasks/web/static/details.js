// The dashboard's task detail, "Run again" and "Load older"; builds on dashboard.js.
// Task data is only ever written with textContent and attributes.
"use strict";

(() => {
  const { base, errorMessage, upsert, onRecord, appendOlder } = window.tasksDashboard;
  const rows = document.getElementById("task-rows");
  const pageStatus = document.getElementById("page-status");
  const dialog = document.getElementById("task-detail");
  const fields = dialog.querySelector(".detail-fields");
  const detailRerun = dialog.querySelector(".rerun");
  const detailStatus = dialog.querySelector(".detail-status");
  const older = document.getElementById("load-older");
  const olderStatus = document.getElementById("older-status");
  const pageSize = Number(document.body.dataset.pageSize) || 100;
  let shown = null; // the id of the task the detail shows

  const taskUrl = (id) => `${base}tasks/${encodeURIComponent(id)}`;
  const { TERMINAL } = window.tasksDetail;

  // -- the detail -------------------------------------------------------------------

  // Parent and children as buttons that open their own detail.
  function taskButton(id) {
    const link = document.createElement("button");
    link.type = "button";
    link.className = "task-link";
    link.dataset.id = id;
    link.title = id;
    link.textContent = id.slice(0, 8);
    return link;
  }

  function render(record) {
    window.tasksDetail.render(dialog, record, taskButton);
    const page = dialog.querySelector(".detail-page");
    page.href = taskUrl(record.id);
    detailRerun.hidden = !TERMINAL.includes(record.state);
  }

  async function open(id) {
    shown = id;
    detailStatus.textContent = "";
    try {
      const response = await fetch(taskUrl(id));
      if (!response.ok) {
        pageStatus.textContent = await errorMessage(response);
        return;
      }
      render(await response.json());
      if (!dialog.open) dialog.showModal();
    } catch (error) {
      pageStatus.textContent = `could not reach the server: ${error.message}`;
    }
  }

  // The stream carries every write: keep an open detail current. A streamed record has no
  // fields a GET would add, so it is shown as it comes.
  onRecord((record) => {
    if (dialog.open && record.id === shown) render(record);
  });

  // -- run again ----------------------------------------------------------------------

  async function rerun(id, button, status) {
    button.disabled = true;
    status.textContent = "";
    try {
      const response = await fetch(`${taskUrl(id)}/rerun`, { method: "POST" });
      if (!response.ok) {
        status.textContent = await errorMessage(response);
        return null;
      }
      const record = await response.json();
      upsert(record);
      return record;
    } catch (error) {
      status.textContent = `could not reach the server: ${error.message}`;
      return null;
    } finally {
      button.disabled = false;
    }
  }

  // -- load older ---------------------------------------------------------------------

  async function loadOlder() {
    const last = rows.lastElementChild;
    if (!last) return;
    const query = new URLSearchParams(window.location.search);
    for (const key of [...query.keys()]) if (!query.get(key)) query.delete(key);
    query.set("limit", String(pageSize));
    query.set("before", last.dataset.id);
    older.disabled = true;
    olderStatus.textContent = "loading…";
    try {
      const response = await fetch(`${base}tasks?${query}`);
      if (!response.ok) {
        olderStatus.textContent = await errorMessage(response);
        return;
      }
      const { tasks } = await response.json();
      appendOlder(tasks);
      older.hidden = tasks.length < pageSize;
      olderStatus.textContent = tasks.length < pageSize ? "no older tasks" : "";
    } catch (error) {
      olderStatus.textContent = `could not reach the server: ${error.message}`;
    } finally {
      older.disabled = false;
    }
  }

  // -- wiring -------------------------------------------------------------------------

  rows.addEventListener("click", (event) => {
    const row = event.target.closest("tr.task");
    if (!row) return;
    if (event.target.closest("button.details")) open(row.dataset.id);
    const again = event.target.closest("button.rerun");
    if (again) rerun(row.dataset.id, again, pageStatus);
  });
  detailRerun.addEventListener("click", async () => {
    const record = await rerun(dialog.dataset.id, detailRerun, detailStatus);
    if (record) {
      shown = record.id;
      render(record);
      detailStatus.textContent = `started ${record.name} ${record.id.slice(0, 8)}`;
    }
  });
  fields.addEventListener("click", (event) => {
    const link = event.target.closest("button.task-link");
    if (link) open(link.dataset.id);
  });
  dialog.querySelector(".close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    shown = null;
  });
  older.addEventListener("click", loadOlder);
})();
