/* Runs page: rows follow /ws/runs/ deltas (status changes, new runs at the top) without a reload.
 * The first page is server-rendered; a reconnect refetches it from /api/runs with the same filters. */
"use strict";
(function () {
  const T = window.Tributary;
  const config = JSON.parse(document.getElementById("runs-config").textContent);
  const tbody = document.querySelector("#runs-table tbody");
  const MAX_ROWS = 200;
  const TERMINAL = new Set(["completed", "failed", "cancelled", "skipped"]);
  const pendingRefresh = new Set();
  let refreshTimer = null;

  const rowOf = (id) => tbody.querySelector(`tr[data-run-id="${CSS.escape(id)}"]`);

  function matches(run) {
    if (config.q) return false;  // a search shows what the server found; new runs do not join it
    if (config.status && run.status !== config.status) return false;
    if (config.app && run.app_id !== config.app) return false;
    if (config.function && run.function_id !== config.function) return false;
    if (config.root_only && run.parent_run_id) return false;
    return true;
  }

  function link(href, text, className) {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    if (className) a.className = className;
    return a;
  }

  function durationCell(td, run) {
    td.textContent = "";
    const started = run.started_at ? Date.parse(run.started_at) : NaN;
    if (Number.isNaN(started)) {
      const span = document.createElement("span"); span.className = "muted"; span.textContent = "not started";
      td.append(span);
    } else if (run.ended_at) {
      td.textContent = T.humanMs(Date.parse(run.ended_at) - started);
    } else {
      const span = document.createElement("span");
      span.className = "ticking"; span.dataset.since = run.started_at;
      span.textContent = `${T.humanMs(Date.now() - started)}…`;
      td.append(span);
    }
  }

  function treeCell(td, run) {
    td.textContent = "";
    if (!run.parent_run_id) {
      const size = run.tree_size || 1;
      const span = document.createElement("span");
      span.className = "tree-size"; span.dataset.size = size;
      span.textContent = `${size} run${size === 1 ? "" : "s"}`;
      td.append(span);
      if (run.tree_failed) {
        const failed = document.createElement("span");
        failed.className = "tree-failed"; failed.textContent = ` ${run.tree_failed} failed`;
        td.append(" ", failed);
      }
    } else {
      const a = link(T.url(`runs/${encodeURIComponent(run.root_run_id)}/`),
        run.depth !== undefined ? `↳ depth ${run.depth}` : "↳ in a tree", "muted");
      a.title = `part of the tree of ${run.root_run_id}`;
      td.append(a);
    }
  }

  function causeCell(td, run) {
    td.textContent = "";
    const cause = run.root_cause;
    if (!cause) return;
    const a = link(T.url(`runs/${encodeURIComponent(cause.run_id)}/`), "", "cause-link");
    const b = document.createElement("b"); b.textContent = cause.function_id;
    const error = cause.error || {};
    const message = (error.message || "").length > 80 ? `${error.message.slice(0, 79)}…` : (error.message || "");
    a.append(b, `${cause.step_id ? ` · ${cause.step_id}` : ""}: ${error.name || "error"} ${message}`);
    td.append(a);
  }

  /** A row from an /api/runs entry, or from a delta (fewer facts until the next refresh). */
  function buildRow(run) {
    const tr = document.createElement("tr");
    tr.dataset.runId = run.id;
    tr.dataset.version = run.version;
    tr.dataset.root = run.root_run_id;
    tr.dataset.status = run.status;
    const cells = ["status", "function", "started", "duration", "tree", "cause"].map((name) => {
      const td = document.createElement("td"); td.className = name; tr.append(td); return td;
    });
    cells[0].append(T.badge(run.status));
    const app = document.createElement("span"); app.className = "app muted"; app.textContent = run.app_id;
    cells[1].append(link(T.url(`runs/${encodeURIComponent(run.id)}/`), run.function_id), " ", app);
    cells[2].append(T.timeElement(run.started_at || run.created_at));
    durationCell(cells[3], run);
    treeCell(cells[4], run);
    causeCell(cells[5], run);
    return tr;
  }

  function scheduleRefresh(id) {
    pendingRefresh.add(id);
    if (!refreshTimer) refreshTimer = setTimeout(flushRefresh, 250);
  }

  /** Fetch the full facts (duration, tree size, root cause) of rows that changed in a way deltas don't say. */
  async function flushRefresh() {
    refreshTimer = null;
    const ids = [...pendingRefresh].filter((id) => rowOf(id)).slice(0, 20);
    ids.forEach((id) => pendingRefresh.delete(id));
    pendingRefresh.clear();
    await Promise.all(ids.map(async (id) => {
      try {
        const data = await T.getJSON(T.url(`api/runs?q=${encodeURIComponent(id)}&limit=5`));
        const run = (data.runs || []).find((r) => r.id === id);
        const row = rowOf(id);
        if (run && row && Number(run.version) >= Number(row.dataset.version)) row.replaceWith(buildRow(run));
      } catch (e) { /* the next delta or reconnect catches up */ }
    }));
  }

  function applyDelta(delta) {
    const row = rowOf(delta.id);
    if (row) {
      const known = Number(row.dataset.version);
      if (delta.version <= known) return;
      row.dataset.version = delta.version;
      row.dataset.status = delta.status;
      T.setBadge(row.querySelector("td.status .badge"), delta.status);
      if (delta.version > known + 1 || TERMINAL.has(delta.status) || delta.status === "running") {
        scheduleRefresh(delta.id);  // duration, started time, root cause: ask the server
      }
    } else if (config.first_page && matches(delta)) {
      const empty = tbody.querySelector("tr.empty");
      if (empty) empty.remove();
      const tr = buildRow({ ...delta, created_at: new Date(delta.ts).toISOString(),
        started_at: delta.status === "queued" ? null : new Date(delta.ts).toISOString(), tree_size: 1 });
      tr.classList.add("fresh");
      tbody.prepend(tr);
      while (tbody.rows.length > MAX_ROWS) tbody.rows[tbody.rows.length - 1].remove();
    }
    if (delta.root_run_id && delta.root_run_id !== delta.id) {
      const root = rowOf(delta.root_run_id);
      if (root && (delta.version <= 2 || delta.status === "failed")) bumpTree(root, delta);
    }
  }

  const seenInTree = new Set();
  function bumpTree(root, delta) {
    if (delta.status === "failed") { scheduleRefresh(root.dataset.runId); return; }
    if (seenInTree.has(delta.id)) return;
    seenInTree.add(delta.id);
    const size = root.querySelector(".tree-size");
    if (!size || delta.status !== "queued") return;  // a new run enters the tree queued
    const n = Number(size.dataset.size) + 1;
    size.dataset.size = n;
    size.textContent = `${n} runs`;
  }

  /** After a reconnect: the first page as the server sees it now (deltas may have been missed). */
  async function resync() {
    if (!config.first_page) { for (const tr of tbody.rows) if (tr.dataset.runId) scheduleRefresh(tr.dataset.runId); return; }
    const query = new URLSearchParams(location.search);
    query.delete("cursor");
    query.set("limit", "50");
    try {
      const data = await T.getJSON(T.url(`api/runs?${query}`));
      tbody.replaceChildren(...data.runs.map(buildRow));
      if (!data.runs.length) {
        const tr = document.createElement("tr"); tr.className = "empty";
        const td = document.createElement("td"); td.colSpan = 6; td.textContent = "No runs match these filters.";
        tr.append(td); tbody.append(tr);
      }
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
