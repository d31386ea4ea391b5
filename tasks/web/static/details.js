// The dashboard's task detail, "Run again" and "Load older"; builds on dashboard.js.
// Task data is only ever written with textContent and attributes.
"use strict";

(() => {
  const { base, errorMessage, upsert, onRecord, appendOlder } = window.tasksDashboard;
  const rows = document.getElementById("task-rows");
  const pageStatus = document.getElementById("page-status");
  const dialog = document.getElementById("task-detail");
  const fields = dialog.querySelector(".detail-fields");
  const timeline = dialog.querySelector(".detail-timeline");
  const errorBox = dialog.querySelector(".detail-error");
  const traceback = dialog.querySelector(".detail-traceback");
  const detailRerun = dialog.querySelector(".rerun");
  const detailStatus = dialog.querySelector(".detail-status");
  const older = document.getElementById("load-older");
  const olderStatus = document.getElementById("older-status");
  const pageSize = Number(document.body.dataset.pageSize) || 100;
  const TERMINAL = ["succeeded", "failed", "cancelled"];
  let shown = null; // the id of the task the detail shows

  const taskUrl = (id) => `${base}tasks/${encodeURIComponent(id)}`;
  const json = (value) => JSON.stringify(value, null, 2);
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");

  // -- the detail -------------------------------------------------------------------

  function field(label, value, { pre = false } = {}) {
    const term = document.createElement("dt");
    term.textContent = label;
    const data = document.createElement("dd");
    const holder = pre ? document.createElement("pre") : data;
    holder.textContent = value;
    if (pre) data.appendChild(holder);
    data.dataset.field = label;
    fields.append(term, data);
  }

  // Parent and children as buttons that open their own detail.
  function links(label, ids) {
    const term = document.createElement("dt");
    term.textContent = label;
    const data = document.createElement("dd");
    data.dataset.field = label;
    for (const id of ids) {
      const link = document.createElement("button");
      link.type = "button";
      link.className = "task-link";
      link.dataset.id = id;
      link.title = id;
      link.textContent = id.slice(0, 8);
      data.append(link, " ");
    }
    fields.append(term, data);
  }

  // A step's line: when it ended (or began, while it runs) and how.
  function stepLine(step) {
    const error = step.error ? `: ${step.error.type}: ${step.error.message}` : "";
    const state = step.state === "running" ? "started" : step.state;
    return [step.finished_at || step.started_at, `step ${step.name} ${state}${error}`];
  }

  // The record keeps its latest attempt's times and the last error: the timeline shows
  // what they tell, and each step where it falls.
  function steps(record) {
    const found = [[record.created_at, record.run_at ? "created, scheduled" : "created, queued"]];
    if (record.run_at) {
      const due = record.state === "scheduled" ? "due" : "came due, queued";
      found.push([record.run_at, due]);
    }
    const earlier = record.state === "queued" ? record.attempts : record.attempts - 1;
    if (earlier > 0) {
      const which = earlier === 1 ? "attempt 1" : `attempts 1–${earlier}`;
      const error = record.error ? `: ${record.error.type}` : "";
      found.push([null, `${which} failed${error}; retried`]);
    }
    if (record.started_at && record.state !== "queued") {
      found.push([record.started_at, `attempt ${record.attempts} of ${record.max_attempts} started`]);
    }
    for (const step of record.steps || []) found.push(stepLine(step));
    if (record.cancel_requested && !TERMINAL.includes(record.state)) {
      found.push([null, "cancel requested"]);
    }
    if (record.finished_at) {
      const error = record.error ? ` (${record.error.type})` : "";
      found.push([record.finished_at, `${record.state}${error}`]);
    } else if (record.state === "queued" && record.attempts > 0) {
      found.push([null, "waiting for the next attempt"]);
    }
    return found;
  }

  function render(record) {
    dialog.dataset.id = record.id;
    dialog.dataset.state = record.state;
    dialog.querySelector(".detail-name").textContent = record.name;
    dialog.querySelector(".detail-id").textContent = record.id;
    fields.replaceChildren();
    field("state", record.state);
    field("arguments", json(record.kwargs), { pre: true });
    field("progress", record.progress ? json(record.progress) : "—", { pre: Boolean(record.progress) });
    field("result", record.result === null ? "—" : json(record.result), { pre: record.result !== null });
    field("attempts", `${record.attempts} of ${record.max_attempts}`);
    field("timeout", record.timeout === null ? "none" : `${record.timeout} s`);
    field("created", when(record.created_at));
    field("started", when(record.started_at));
    field("finished", when(record.finished_at));
    field("owner", record.owner || "—");
    field("cancel requested", record.cancel_requested ? "yes" : "no");
    if (record.run_at) field("run at", when(record.run_at));
    if (record.schedule) field("schedule", `${record.schedule}, tick ${when(record.tick)}`);
    if (record.idempotency_key) field("idempotency key", record.idempotency_key);
    if (record.parent) links("parent", [record.parent]);
    if (record.children && record.children.length) {
      links(`children (${record.children.length})`, record.children);
    }

    errorBox.hidden = !record.error;
    dialog.querySelector(".detail-error-text").textContent = record.error
      ? `${record.error.type}: ${record.error.message}`
      : "";
    const trace = record.error && record.error.traceback;
    traceback.hidden = !trace;
    traceback.textContent = trace || "";

    timeline.replaceChildren();
    for (const [moment, text] of steps(record)) {
      const item = document.createElement("li");
      if (moment) {
        const time = document.createElement("time");
        time.dateTime = moment;
        time.textContent = when(moment);
        item.append(time, " ");
      }
      item.append(text);
      timeline.appendChild(item);
    }
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
