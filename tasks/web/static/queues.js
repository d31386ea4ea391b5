// The dashboard's queues: each one's state and counts, with a Pause or Resume button;
// builds on dashboard.js. Queue data is only ever written with textContent and attributes.
"use strict";

(() => {
  const { base, errorMessage, onRecord } = window.tasksDashboard;
  const rows = document.getElementById("queue-rows");
  const rowTemplate = document.getElementById("queue-row");
  const status = document.getElementById("queue-status");
  // The counts are read again at most once a second while records stream in, and every
  // REFRESH_MS anyway: another process may pause or resume a queue.
  const REFRESH_MS = 10000;
  let due = null;

  // "export: 1 at once per tenant, 10/s"
  function describeLimit(limit) {
    const parts = [];
    if (limit.concurrency !== null) {
      const per = limit.concurrency_key === null ? "" : ` per ${limit.concurrency_key}`;
      parts.push(`${limit.concurrency} at once${per}`);
    }
    if (limit.rate_limit !== null) parts.push(limit.rate_limit);
    return `${limit.task}: ${parts.join(", ")}`;
  }

  function show(queue) {
    let row = Array.from(rows.children).find((each) => each.dataset.name === queue.name);
    if (!row) {
      row = rowTemplate.content.firstElementChild.cloneNode(true);
      rows.appendChild(row);
    }
    const state = queue.paused ? "paused" : "running";
    row.dataset.name = queue.name;
    row.dataset.paused = String(queue.paused);
    const name = row.querySelector(".queue-name");
    name.textContent = queue.name;
    name.title = queue.tasks.join(", ");
    const badge = row.querySelector(".queue-state");
    badge.textContent = state;
    badge.dataset.state = state;
    row.querySelector(".queue-waiting").textContent = String(queue.waiting);
    row.querySelector(".queue-running").textContent = String(queue.running);
    row.querySelector(".queue-limits").textContent = queue.limits.map(describeLimit).join("; ");
    row.querySelector(".queue-toggle").textContent = queue.paused ? "Resume" : "Pause";
  }

  async function load() {
    due = null;
    try {
      const response = await fetch(`${base}queues`);
      if (!response.ok) {
        status.textContent = await errorMessage(response);
        return;
      }
      for (const queue of (await response.json()).queues) show(queue);
      status.textContent = "";
    } catch (error) {
      status.textContent = `could not reach the server: ${error.message}`;
    }
  }

  function loadSoon() {
    if (due === null) due = setTimeout(load, 1000);
  }

  async function toggle(button) {
    const row = button.closest("tr.queue");
    const action = row.dataset.paused === "true" ? "resume" : "pause";
    button.disabled = true;
    status.textContent = "";
    try {
      const url = `${base}queues/${encodeURIComponent(row.dataset.name)}/${action}`;
      const response = await fetch(url, { method: "POST" });
      if (response.ok) show(await response.json());
      else status.textContent = await errorMessage(response);
    } catch (error) {
      status.textContent = `could not reach the server: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  }

  rows.addEventListener("click", (event) => {
    const button = event.target.closest("button.queue-toggle");
    if (button) toggle(button);
  });
  onRecord(loadSoon);
  load();
  setInterval(load, REFRESH_MS);
})();
