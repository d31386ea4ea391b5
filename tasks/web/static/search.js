// The dashboard's search (text, id, time range) and its bulk actions on the tasks listed.
// The time range is picked in local time and sent as ISO 8601 with the browser's offset.
"use strict";

(() => {
  const { base, errorMessage, upsert } = window.tasksDashboard;
  const form = document.getElementById("filters");
  const rows = document.getElementById("task-rows");
  const status = document.getElementById("bulk-status");
  const TERMINAL = ["succeeded", "failed", "cancelled"];
  const taskUrl = (id) => `${base}tasks/${encodeURIComponent(id)}`;

  // "2026-12-05T15:04:05" in local time, for a datetime-local input.
  function localValue(iso) {
    const moment = new Date(iso);
    if (Number.isNaN(moment.getTime())) return "";
    const shifted = new Date(moment.getTime() - moment.getTimezoneOffset() * 60000);
    return shifted.toISOString().slice(0, 19);
  }

  function isoWithOffset(value) {
    const moment = new Date(value); // a datetime-local value is read as local time
    if (Number.isNaN(moment.getTime())) return "";
    return moment.toISOString(); // UTC, with its Z
  }

  for (const name of ["since", "until"]) {
    const picker = document.getElementById(`filter-${name}`);
    const hidden = form.querySelector(`input[type="hidden"][name="${name}"]`);
    if (picker.dataset.iso) picker.value = localValue(picker.dataset.iso);
    picker.addEventListener("change", () => {
      hidden.value = picker.value ? isoWithOffset(picker.value) : "";
    });
  }
  form.addEventListener("submit", () => {
    // Leave empty fields out of the URL.
    for (const field of form.querySelectorAll("input[name], select[name]")) {
      field.disabled = !field.value;
    }
  });

  // -- bulk actions on the listed tasks ------------------------------------------------

  async function each(ids, verb, act) {
    if (!ids.length) {
      status.textContent = `no task listed to ${verb}`;
      return;
    }
    if (!window.confirm(`${verb[0].toUpperCase()}${verb.slice(1)} ${ids.length} task(s)?`)) return;
    let done = 0;
    const failures = [];
    for (const id of ids) {
      try {
        const response = await act(id);
        if (response.ok) {
          done += 1;
          upsert(await response.json());
        } else {
          failures.push(await errorMessage(response));
        }
      } catch (error) {
        failures.push(`could not reach the server: ${error.message}`);
      }
      status.textContent = `${verb}: ${done} of ${ids.length} done`;
    }
    if (failures.length) status.textContent += `; ${failures.length} refused: ${failures[0]}`;
  }

  function listed(predicate) {
    return Array.from(rows.querySelectorAll("tr.task"))
      .filter((row) => predicate(row.dataset.state))
      .map((row) => row.dataset.id);
  }

  document.getElementById("bulk-cancel").addEventListener("click", () =>
    each(listed((state) => !TERMINAL.includes(state)), "cancel", (id) =>
      fetch(taskUrl(id), { method: "DELETE" }),
    ),
  );
  document.getElementById("bulk-rerun").addEventListener("click", () =>
    each(listed((state) => TERMINAL.includes(state)), "run again", (id) =>
      fetch(`${taskUrl(id)}/rerun`, { method: "POST" }),
    ),
  );
})();
