// The dashboard's activity: counts by state, tasks ended over time, run time per task, all
// from GET /stats (counted by the store), drawn as SVG here: no library, nothing from a CDN.
// Every bar carries its numbers (data-* attributes and a <title> shown on hover).
"use strict";

(() => {
  const { base, errorMessage, onRecord } = window.tasksDashboard;
  const SVG = "http://www.w3.org/2000/svg";
  const STATES = ["succeeded", "failed", "cancelled"];
  const REFRESH_MS = 10000;
  const SOON_MS = 1500;
  const windowSelect = document.getElementById("stats-window");
  const throughput = document.getElementById("throughput-chart");
  const durations = document.getElementById("duration-chart");
  const status = document.getElementById("stats-status");

  function element(name, attributes, title) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
    if (title) {
      const hint = document.createElementNS(SVG, "title");
      hint.textContent = title;
      node.appendChild(hint);
    }
    return node;
  }

  const clock = (iso) => new Date(iso).toLocaleString([], { dateStyle: "short", timeStyle: "short" });

  function seconds(value) {
    if (value === null) return "–";
    if (value < 1) return `${Math.round(value * 1000)} ms`;
    if (value < 60) return `${value.toFixed(1)} s`;
    return `${(value / 60).toFixed(1)} min`;
  }

  function showCounts(states) {
    for (const count of document.querySelectorAll("#state-counts .count")) {
      count.textContent = String(states[count.dataset.state] ?? 0);
    }
  }

  // One column per bucket, its states stacked: succeeded at the bottom, then failed, cancelled.
  function showThroughput(stats) {
    const points = stats.throughput;
    const width = 600;
    const height = 160;
    const most = Math.max(1, ...points.map((p) => STATES.reduce((sum, s) => sum + p[s], 0)));
    const step = width / Math.max(1, points.length);
    throughput.replaceChildren();
    throughput.dataset.most = String(most);
    points.forEach((point, index) => {
      let top = height;
      for (const state of STATES) {
        const count = point[state];
        if (!count) continue;
        const tall = (count / most) * (height - 4);
        top -= tall;
        throughput.appendChild(
          element(
            "rect",
            {
              class: `bar bar-${state}`,
              x: (index * step + step * 0.1).toFixed(2),
              y: top.toFixed(2),
              width: (step * 0.8).toFixed(2),
              height: tall.toFixed(2),
              "data-start": point.start,
              "data-state": state,
              "data-count": count,
            },
            `${clock(point.start)}: ${count} ${state}`,
          ),
        );
      }
    });
    const minutes = stats.bucket / 60;
    document.getElementById("bucket-size").textContent =
      minutes === 1 ? "minute" : minutes < 60 ? `${minutes} minutes` : `${minutes / 60} h`;
    document.getElementById("throughput-from").textContent = clock(stats.since);
    document.getElementById("throughput-to").textContent = clock(stats.until);
  }

  // One row per task name that ran: a bar to its median, a thinner one to its 95th percentile.
  function showDurations(stats) {
    const timed = stats.tasks.filter((task) => task.duration.p95 !== null);
    const row = 22;
    const label = 150;
    const width = 600;
    const longest = Math.max(1e-9, ...timed.map((task) => task.duration.p95));
    durations.replaceChildren();
    durations.setAttribute("viewBox", `0 0 ${width} ${Math.max(1, timed.length) * row + 4}`);
    timed.forEach((task, index) => {
      const y = index * row + 2;
      const scale = (value) => ((width - label - 140) * value) / longest;
      const { p50, p95 } = task.duration;
      const name = element("text", { x: 0, y: y + 15, class: "chart-label" });
      name.textContent = task.name;
      const values = element("text", { x: label + scale(p95) + 6, y: y + 15, class: "chart-value" });
      values.textContent = `${seconds(p50)} · ${seconds(p95)}`;
      durations.append(
        name,
        element(
          "rect",
          { class: "bar bar-p95", x: label, y: y + 7, width: scale(p95).toFixed(2), height: 6,
            "data-task": task.name, "data-p95": p95 },
          `${task.name}: 95 % within ${seconds(p95)}`,
        ),
        element(
          "rect",
          { class: "bar bar-p50", x: label, y: y + 3, width: scale(p50).toFixed(2), height: 14,
            "data-task": task.name, "data-p50": p50 },
          `${task.name}: median ${seconds(p50)}`,
        ),
        values,
      );
    });
    if (!timed.length) {
      const none = element("text", { x: 0, y: 16, class: "chart-label" });
      none.textContent = "no task ended in this window";
      durations.appendChild(none);
    }
  }

  // Per task type: the tasks that ended in the window by state, and those live now; types
  // with none are left out.
  function showTypes(stats) {
    const body = document.getElementById("type-counts");
    const columns = [
      ["finished", "succeeded"], ["finished", "failed"], ["finished", "cancelled"],
      ["live", "queued"], ["live", "running"],
    ];
    body.replaceChildren();
    for (const task of stats.tasks) {
      const counts = columns.map(([group, state]) => task[group][state]);
      if (!counts.some(Boolean)) continue;
      const row = document.createElement("tr");
      row.dataset.task = task.name;
      const name = document.createElement("th");
      name.scope = "row";
      name.textContent = task.name;
      row.appendChild(name);
      counts.forEach((count, index) => {
        const cell = document.createElement("td");
        cell.dataset.state = columns[index][1];
        cell.textContent = String(count);
        row.appendChild(cell);
      });
      body.appendChild(row);
    }
  }

  async function refresh() {
    try {
      const response = await fetch(`${base}stats?window=${encodeURIComponent(windowSelect.value)}`);
      if (!response.ok) {
        status.textContent = await errorMessage(response);
        return;
      }
      const stats = await response.json();
      showCounts(stats.states);
      showThroughput(stats);
      showDurations(stats);
      showTypes(stats);
      status.textContent = "";
      document.querySelector(".activity").dataset.loaded = stats.until;
    } catch (error) {
      status.textContent = `could not reach the server: ${error.message}`;
    }
  }

  // A change on the stream: count again soon, once for a burst of changes.
  let soon = null;
  onRecord(() => {
    if (soon === null) {
      soon = setTimeout(() => {
        soon = null;
        refresh();
      }, SOON_MS);
    }
  });
  windowSelect.addEventListener("change", refresh);
  refresh();
  setInterval(refresh, REFRESH_MS);
})();
