// The dashboard's live part: follows /events, starts and cancels tasks.
// Task data is only ever written with textContent, attributes and form values.
"use strict";

(() => {
  const body = document.body;
  const { errorMessage } = window.tasksDetail; // detail_view.js, loaded first
  // Where the tasks blueprint is mounted, ending in "/": "/" or e.g. "/jobs/".
  const base = body.dataset.base || "/";
  const rows = document.getElementById("task-rows");
  const rowTemplate = document.getElementById("task-row");
  const live = document.getElementById("live");
  const empty = document.getElementById("empty");
  const pageStatus = document.getElementById("page-status");
  const startForm = document.getElementById("start-form");
  const formStatus = document.getElementById("form-status");
  const taskSelect = document.getElementById("task-name");
  const filterForm = document.getElementById("filters");
  // How many rows the list keeps. Once older tasks are loaded (details.js), the rows being
  // read stay: new tasks raise the limit, up to MAX_ROWS.
  let limit = Number(body.dataset.pageSize) || 100;
  let keepOlder = false;
  const MAX_ROWS = 5000;
  // Server time minus browser time, so running durations do not depend on the browser's clock.
  const clockOffset = Date.parse(body.dataset.now) - Date.now() || 0;

  const byId = new Map();
  for (const row of rows.querySelectorAll("tr.task")) byId.set(row.dataset.id, row);
  // Ids the stream has delivered. The stream is in write order; the answer to a POST or
  // DELETE may arrive after newer events of the same task, so it must not overwrite them.
  const streamed = new Set();
  const STREAMED_KEPT = 10000;
  // Milliseconds before a refused stream is opened again (the server's Retry-After).
  const REFUSED_RETRY_MS = 5000;

  // -- rendering --------------------------------------------------------------------

  function formatNumber(value) {
    return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
  }

  // Mirrors format_seconds in tasks/web/dashboard.py.
  function formatSeconds(seconds) {
    seconds = Math.max(0, seconds);
    if (seconds < 10) return `${seconds.toFixed(2)} s`;
    if (seconds < 60) return `${seconds.toFixed(1)} s`;
    const pad = (n) => String(Math.floor(n)).padStart(2, "0");
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${pad(seconds % 60)} s`;
    return `${Math.floor(seconds / 3600)} h ${pad((seconds % 3600) / 60)} min`;
  }

  function percent(record) {
    if (record.state === "succeeded") return 100; // whatever it last reported
    const progress = record.progress;
    if (progress && progress.total) {
      return Math.max(0, Math.min(100, Math.round((100 * progress.current) / progress.total)));
    }
    return null;
  }

  // "12 s ago", "in 5 min": relative to the server's clock; the exact local time on hover.
  function relative(iso) {
    const seconds = (Date.parse(iso) - (Date.now() + clockOffset)) / 1000;
    const size = Math.abs(seconds);
    let text;
    if (size < 5) return "just now";
    if (size < 60) text = `${Math.round(size)} s`;
    else if (size < 3600) text = `${Math.round(size / 60)} min`;
    else if (size < 86400) text = `${Math.round(size / 3600)} h`;
    else text = `${Math.round(size / 86400)} d`;
    return seconds < 0 ? `${text} ago` : `in ${text}`;
  }

  function showTime(element, iso) {
    element.dateTime = iso || "";
    element.textContent = iso ? relative(iso) : "";
    element.title = iso ? new Date(iso).toLocaleString() : "";
  }

  function relativize(root) {
    for (const element of root.querySelectorAll("time.rel")) {
      if (element.dateTime) showTime(element, element.dateTime);
    }
  }

  function progressText(record) {
    const progress = record.progress;
    if (!progress) return "";
    const done = record.state === "succeeded" && progress.total !== null && progress.total !== undefined;
    let head = formatNumber(done ? progress.total : progress.current);
    if (progress.total !== null && progress.total !== undefined) {
      head += ` / ${formatNumber(progress.total)}`;
    }
    const parts = [head];
    const share = percent(record);
    if (share !== null) parts.push(`${share} %`);
    if (progress.message) parts.push(progress.message);
    return parts.join(" · ");
  }

  // Mirrors waiting_marker in tasks/web/dashboard.py: a live task this app has no task for.
  const known = new Set(Array.from(taskSelect.options, (option) => option.value));
  function waitingFor(record) {
    if (known.has(record.name) || ["succeeded", "failed", "cancelled"].includes(record.state)) {
      return "";
    }
    if (record.state === "running" && record.owner) return "";
    return `waiting for a process that runs ${record.name}`;
  }

  function outcome(record) {
    if (record.error) return `${record.error.type}: ${record.error.message}`;
    if (record.state === "succeeded" && record.result !== null) return compactJson(record.result);
    return "";
  }

  // The server's spacing, {"n": 20, "interval": 0.1}, so that rendered and live rows match.
  function compactJson(value) {
    if (Array.isArray(value)) return `[${value.map(compactJson).join(", ")}]`;
    if (value !== null && typeof value === "object") {
      const items = Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${compactJson(v)}`);
      return `{${items.join(", ")}}`;
    }
    return JSON.stringify(value);
  }

  function durationText(row) {
    const started = Date.parse(row.dataset.started);
    if (!started) return "—";
    const finished = Date.parse(row.dataset.finished);
    const end = finished || Date.now() + clockOffset;
    return formatSeconds((end - started) / 1000);
  }

  function fill(row, record) {
    const terminal = ["succeeded", "failed", "cancelled"].includes(record.state);
    row.dataset.id = record.id;
    row.dataset.state = record.state;
    row.dataset.name = record.name;
    row.dataset.created = record.created_at || "";
    row.dataset.started = record.started_at || "";
    row.dataset.finished = record.finished_at || "";

    row.querySelector(".task-name").textContent = record.name;
    row.querySelector(".task-args").textContent = compactJson(record.kwargs);
    const link = row.querySelector(".task-id");
    link.textContent = record.id.slice(0, 8);
    link.title = record.id;
    link.href = `${base}tasks/${encodeURIComponent(record.id)}`;

    const state = row.querySelector(".state");
    state.textContent = record.state;
    state.dataset.state = record.state;
    row.querySelector(".attempts").textContent =
      record.max_attempts > 1 ? `attempt ${record.attempts} of ${record.max_attempts}` : "";
    const waiting = row.querySelector(".waiting-for");
    waiting.textContent = waitingFor(record);
    waiting.hidden = !waiting.textContent;

    const bar = row.querySelector("progress");
    const share = percent(record);
    bar.hidden = false;
    if (share !== null) bar.value = share;
    else if (record.state === "queued") bar.value = 0;
    else if (record.state === "running") bar.removeAttribute("value"); // no total: indeterminate
    else bar.hidden = true; // ended without reporting progress
    bar.setAttribute("aria-label", `progress of ${record.name}`);
    const text = row.querySelector(".progress-text");
    if (record.state === "scheduled" && record.run_at) {
      const due = document.createElement("time");
      due.className = "rel";
      showTime(due, record.run_at);
      text.replaceChildren("runs ", due);
    } else {
      text.textContent = progressText(record);
    }
    showTime(row.querySelector("time.created"), record.created_at);
    const started = row.querySelector(".started");
    started.hidden = !record.started_at;
    showTime(started.querySelector("time"), record.started_at);

    row.querySelector(".duration").textContent = durationText(row);
    const result = row.querySelector(".outcome");
    result.textContent = outcome(record);
    result.classList.toggle("is-error", Boolean(record.error));
    const trace = record.error ? record.error.traceback : null;
    const details = row.querySelector(".traceback");
    details.hidden = !trace;
    details.querySelector("pre").textContent = trace || "";

    const cancel = row.querySelector(".cancel");
    cancel.hidden = terminal;
    if (terminal) cancel.disabled = false;
    row.querySelector(".rerun").hidden = !terminal;
  }

  // -- the list ---------------------------------------------------------------------

  // Mirrors the server's filters (tasks/web/search.py), for the records the stream brings.
  function matchesFilters(record) {
    const params = new URLSearchParams(window.location.search);
    const state = params.get("state");
    const name = params.get("name");
    const text = (params.get("q") || "").toLowerCase();
    const prefix = (params.get("id") || "").trim().toLowerCase();
    const since = Date.parse(params.get("since") || "");
    const until = Date.parse(params.get("until") || "");
    const created = Date.parse(record.created_at);
    const searched = `${JSON.stringify(record.kwargs)}\n${record.error ? record.error.message : ""}`;
    return (
      (!state || record.state === state) &&
      (!name || record.name === name) &&
      (!text || searched.toLowerCase().includes(text)) &&
      (!prefix || record.id.startsWith(prefix)) &&
      (!since || created >= since) &&
      (!until || created < until)
    );
  }

  function upsert(record) {
    let row = byId.get(record.id);
    if (!matchesFilters(record)) {
      if (row) {
        row.remove();
        byId.delete(record.id);
      }
    } else if (row) {
      fill(row, record);
    } else {
      row = rowTemplate.content.firstElementChild.cloneNode(true);
      if (keepOlder && limit < MAX_ROWS) limit += 1;
      fill(row, record);
      insertByCreation(row);
      byId.set(record.id, row);
      while (byId.size > limit) {
        const oldest = rows.lastElementChild;
        byId.delete(oldest.dataset.id);
        oldest.remove();
      }
    }
    empty.hidden = byId.size > 0;
  }

  function insertByCreation(row) {
    // Newest first; ISO timestamps of one server compare as strings.
    for (const other of rows.children) {
      if (other.dataset.created < row.dataset.created) {
        rows.insertBefore(row, other);
        return;
      }
    }
    rows.appendChild(row);
  }

  function upsertUnlessStreamed(record) {
    if (!streamed.has(record.id)) upsert(record);
  }

  function tick() {
    for (const row of rows.querySelectorAll('tr.task[data-state="running"]')) {
      row.querySelector(".duration").textContent = durationText(row);
    }
  }

  relativize(rows); // the rows the server rendered
  setInterval(() => relativize(rows), 15000);

  // -- the stream -------------------------------------------------------------------

  function setLive(status, text) {
    live.dataset.status = status;
    live.textContent = text;
  }

  function follow(after) {
    const source = new EventSource(`${base}events?after=${encodeURIComponent(after)}`);
    let last = after;
    source.onopen = () => setLive("open", "live");
    source.onerror = () => {
      setLive("lost", "reconnecting…");
      // EventSource gives up on an answer that is not a stream, such as the 503 of a server
      // with too many streams open: start again later, from the last event received.
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(() => follow(last), REFUSED_RETRY_MS);
      }
    };
    source.onmessage = (event) => {
      if (event.lastEventId) last = event.lastEventId;
      let record;
      try {
        record = JSON.parse(event.data);
      } catch {
        return;
      }
      streamed.add(record.id);
      if (streamed.size > STREAMED_KEPT) streamed.delete(streamed.values().next().value);
      upsert(record);
      for (const listener of listeners) listener(record);
    };
  }

  // -- actions ----------------------------------------------------------------------


  function showArguments() {
    for (const fieldset of startForm.querySelectorAll("fieldset.arguments")) {
      const active = fieldset.dataset.task === taskSelect.value;
      fieldset.hidden = !active;
      fieldset.disabled = !active;
    }
  }

  function argumentValue(input) {
    const raw = input.value;
    switch (input.dataset.type) {
      case "bool":
        return input.checked;
      case "int":
      case "float":
        // An unparsable number goes as typed, so that the server's message names it.
        return raw.trim() !== "" && Number.isFinite(Number(raw)) ? Number(raw) : raw;
      case "str":
        return raw;
      default:
        try {
          return JSON.parse(raw);
        } catch {
          return raw;
        }
    }
  }

  function collectArguments() {
    const fieldset = startForm.querySelector(
      `fieldset.arguments[data-task="${CSS.escape(taskSelect.value)}"]`,
    );
    const kwargs = {};
    for (const input of fieldset ? fieldset.querySelectorAll("input") : []) {
      if (input.dataset.type !== "bool" && input.value === "" && !input.required) continue;
      kwargs[input.name] = argumentValue(input);
    }
    return kwargs;
  }

  async function start(event) {
    event.preventDefault();
    const name = taskSelect.value;
    const query = new URLSearchParams();
    for (const option of ["timeout", "retries", "delay"]) {
      const value = startForm.elements[option].value.trim();
      if (value !== "") query.set(option, value);
    }
    const url = `${base}tasks/${encodeURIComponent(name)}${query.size ? `?${query}` : ""}`;
    formStatus.dataset.kind = "pending";
    formStatus.textContent = `starting ${name}…`;
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(collectArguments()),
      });
      if (!response.ok) {
        formStatus.dataset.kind = "error";
        formStatus.textContent = await errorMessage(response);
        return;
      }
      const record = await response.json();
      upsertUnlessStreamed(record);
      formStatus.dataset.kind = "ok";
      const verb = record.state === "scheduled" ? `scheduled for ${record.run_at}:` : "started";
      formStatus.textContent = `${verb} ${record.name} ${record.id.slice(0, 8)}`;
    } catch (error) {
      formStatus.dataset.kind = "error";
      formStatus.textContent = `could not reach the server: ${error.message}`;
    }
  }

  async function cancel(button) {
    const row = button.closest("tr.task");
    const id = row.dataset.id;
    button.disabled = true;
    pageStatus.textContent = "";
    try {
      const response = await fetch(`${base}tasks/${encodeURIComponent(id)}`, { method: "DELETE" });
      if (response.ok) {
        upsertUnlessStreamed(await response.json());
      } else {
        pageStatus.textContent = await errorMessage(response);
      }
    } catch (error) {
      pageStatus.textContent = `could not reach the server: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  }

  // -- what details.js builds on ------------------------------------------------------

  const listeners = [];
  window.tasksDashboard = {
    base,
    errorMessage,
    upsert: upsertUnlessStreamed,
    onRecord: (listener) => listeners.push(listener),
    appendOlder(records) {
      keepOlder = true;
      limit = Math.min(MAX_ROWS, limit + records.length);
      for (const record of records) upsertUnlessStreamed(record);
    },
  };

  // -- wiring -----------------------------------------------------------------------

  taskSelect.addEventListener("change", showArguments);
  startForm.addEventListener("submit", start);
  rows.addEventListener("click", (event) => {
    const button = event.target.closest("button.cancel");
    if (button) cancel(button);
  });
  for (const select of filterForm.querySelectorAll("select")) {
    select.addEventListener("change", () => filterForm.requestSubmit());
  }
  showArguments();
  follow(body.dataset.after);
  setInterval(tick, 1000);
})();
