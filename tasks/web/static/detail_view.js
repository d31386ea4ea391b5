// One task's detail: fields, error and timeline, rendered into an element holding the
// detail's parts (.detail-name, .detail-id, .detail-fields, .detail-error, .detail-timeline).
// Used by the dashboard's dialog (details.js) and by the task's own page (task_page.js);
// loaded before both, and before dashboard.js, which takes errorMessage from it.
// Task data is only ever written with textContent and attributes.
"use strict";

(() => {
  const TERMINAL = ["succeeded", "failed", "cancelled"];
  const json = (value) => JSON.stringify(value, null, 2);
  // Local time, as the browser's locale writes it.
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");

  // A step's line: when it ended (or began, while it runs) and how.
  function stepLine(step) {
    const error = step.error ? `: ${step.error.type}: ${step.error.message}` : "";
    const state = step.state === "running" ? "started" : step.state;
    return [step.finished_at || step.started_at, `step ${step.name} ${state}${error}`];
  }

  // The record keeps its latest attempt's times and the last error: the timeline shows
  // what they tell, and each step where it falls.
  function timelineOf(record) {
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

  // Render `record` into `root`; `link(id)` makes the element that leads to another task
  // (its parent or a child).
  function render(root, record, link) {
    const fields = root.querySelector(".detail-fields");
    const timeline = root.querySelector(".detail-timeline");
    const errorBox = root.querySelector(".detail-error");
    const traceback = root.querySelector(".detail-traceback");

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

    function links(label, ids) {
      const term = document.createElement("dt");
      term.textContent = label;
      const data = document.createElement("dd");
      data.dataset.field = label;
      for (const id of ids) data.append(link(id), " ");
      fields.append(term, data);
    }

    root.dataset.id = record.id;
    root.dataset.state = record.state;
    root.querySelector(".detail-name").textContent = record.name;
    root.querySelector(".detail-id").textContent = record.id;
    fields.replaceChildren();
    field("state", record.state);
    field("queue", `${record.queue}, priority ${record.priority}`);
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
    root.querySelector(".detail-error-text").textContent = record.error
      ? `${record.error.type}: ${record.error.message}`
      : "";
    const trace = record.error && record.error.traceback;
    traceback.hidden = !trace;
    traceback.textContent = trace || "";

    timeline.replaceChildren();
    for (const [moment, text] of timelineOf(record)) {
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
  }

  // The message of an error answer, or its status line.
  async function errorMessage(response) {
    try {
      const data = await response.json();
      if (data && data.error && data.error.message) return data.error.message;
    } catch {
      // not JSON: fall through to the status line
    }
    return `the server answered ${response.status} ${response.statusText}`;
  }

  window.tasksDetail = { TERMINAL, errorMessage, render, when };
})();
