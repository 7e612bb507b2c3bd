/* Runs page: rows follow /ws/runs/ deltas (status changes, new runs at the top) without a reload.
 * Every row is rendered by the server (templates/runs/_run_row.html), on the first render and after: a delta
 * swaps the badge at once, and the rows that changed in a way deltas don't say (duration, tree, root cause),
 * or that are new, are fetched as HTML in one batched request. A reconnect refetches the first page. */
"use strict";
(function () {
  const T = window.Tributary;
  const S = T.vocab.RunStatus;
  const TERMINAL = new Set(T.vocab.terminal_run_statuses);
  const config = JSON.parse(document.getElementById("runs-config").textContent);
  const table = document.getElementById("runs-table");
  const tbody = table.querySelector("tbody");
  const rowsUrl = table.dataset.rowsUrl;
  const MAX_ROWS = 200;
  const BATCH = 50;  // ids per request (the server's MAX_ROWS_PER_REQUEST)
  const toRefresh = new Set();  // rows shown that changed
  const toInsert = new Set();  // new runs that match the filters, not shown yet
  const newest = new Map();  // run id -> highest version a delta announced, for rows still being fetched
  let flushTimer = null;

  const rowOf = (id) => tbody.querySelector(`tr[data-run-id="${CSS.escape(id)}"]`);

  // Rows the server renders again come unchecked: an operator's selection (the bulk checkboxes, actions.js)
  // is carried over to them, and actions.js is told the rows changed.
  const SELECT = "input.select-run";
  const checkedIds = () => new Set([...tbody.querySelectorAll(`${SELECT}:checked`)].map((box) => box.value));
  function keepChecked(rows, ids) {
    for (const tr of rows) {
      const box = tr.querySelector(SELECT);
      if (box && ids.has(box.value)) box.checked = true;
    }
    document.dispatchEvent(new CustomEvent("tributary:rows"));
  }

  function matches(run) {
    // A search or an absolute time range shows what the server found; new runs do not join it.
    if (config.q || config.searching) return false;
    if (config.status && run.status !== config.status) return false;
    if (config.app && run.app_id !== config.app) return false;
    if (config.function && run.function_id !== config.function) return false;
    if (config.root_only && run.parent_run_id) return false;
    return true;
  }

  /** Server-rendered rows (HTML of <tr> elements) as nodes. */
  async function fetchRows(query) {
    const response = await fetch(`${rowsUrl}?${query}`, { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (!response.ok) throw new Error(`${rowsUrl}: HTTP ${response.status}`);
    const template = document.createElement("template");
    template.innerHTML = await response.text();  // the server escaped every value
    return [...template.content.querySelectorAll("tr")];
  }

  function schedule(set, id) {
    set.add(id);
    if (!flushTimer) flushTimer = setTimeout(flush, 250);
  }

  async function flush() {
    flushTimer = null;
    const ids = [...new Set([...toInsert, ...toRefresh])].slice(0, BATCH);
    ids.forEach((id) => { toRefresh.delete(id); });
    const inserting = new Set(ids.filter((id) => toInsert.delete(id)));
    if (toInsert.size || toRefresh.size) flushTimer = setTimeout(flush, 250);  // the rest, in the next batch
    if (!ids.length) return;
    let rows;
    try {
      rows = await fetchRows(new URLSearchParams(ids.map((id) => ["id", id])));
    } catch (e) { return; /* the next delta or reconnect catches up */ }
    const fresh = [];
    const checked = checkedIds();
    for (const tr of rows) {
      T.localizeTimes(tr);
      const id = tr.dataset.runId;
      const shown = rowOf(id);
      if (shown) {
        if (Number(tr.dataset.version) >= Number(shown.dataset.version)) shown.replaceWith(tr);
      } else if (inserting.has(id)) {
        tr.classList.add("fresh");
        fresh.push(tr);
      }
      if ((newest.get(id) || 0) > Number(tr.dataset.version)) schedule(toRefresh, id);  // changed meanwhile
      newest.delete(id);
    }
    if (fresh.length) {
      const empty = tbody.querySelector("tr.empty");
      if (empty) empty.remove();
      tbody.prepend(...fresh);  // the server sends them newest first
      while (tbody.rows.length > MAX_ROWS) tbody.rows[tbody.rows.length - 1].remove();
    }
    keepChecked(rows, checked);
  }

  function applyDelta(delta) {
    const row = rowOf(delta.id);
    if (row) {
      const known = Number(row.dataset.version);
      if (delta.version <= known) return;
      row.dataset.version = delta.version;
      row.dataset.status = delta.status;
      T.setBadge(row.querySelector("td.status .badge"), delta.status);
      if (delta.version > known + 1 || TERMINAL.has(delta.status) || delta.status === S.RUNNING) {
        schedule(toRefresh, delta.id);  // duration, started time, root cause: ask the server
      }
    } else if (config.first_page && matches(delta)) {
      newest.set(delta.id, Math.max(newest.get(delta.id) || 0, delta.version));
      schedule(toInsert, delta.id);
    }
    if (delta.root_run_id && delta.root_run_id !== delta.id) {
      // A run entering the tree, or failing in it: the root's tree size or failed count changed.
      const root = rowOf(delta.root_run_id);
      if (root && (delta.version <= 2 || delta.status === S.FAILED)) schedule(toRefresh, delta.root_run_id);
    }
  }

  /** After a reconnect: the first page as the server sees it now (deltas may have been missed). */
  async function resync() {
    if (!config.first_page) { for (const tr of tbody.rows) if (tr.dataset.runId) schedule(toRefresh, tr.dataset.runId); return; }
    const query = new URLSearchParams(location.search);
    query.delete("cursor");
    try {
      const rows = await fetchRows(query);
      rows.forEach((tr) => T.localizeTimes(tr));
      const checked = checkedIds();
      tbody.replaceChildren(...rows);
      keepChecked(rows, checked);
    } catch (e) { /* stay with what we have; the badge says we are not live */ }
  }

  // Filters apply as soon as they change (the Filter button is there for no-script browsers).
  const form = document.getElementById("run-filters");
  for (const el of form.querySelectorAll("select, input[type=checkbox]")) {
    el.addEventListener("change", () => form.requestSubmit());
  }

  T.live("ws/runs/", {
    onOpen: (again) => { if (again) resync(); },
    onDeltas: (deltas) => deltas.forEach(applyDelta),
  });
})();
