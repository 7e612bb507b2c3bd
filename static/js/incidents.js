/* The Incidents page and an incident's page (issue 11, item 6). Both follow the runs socket: when a root run
 * fails, or a failed one is retried, the server-rendered rows are fetched again (at most once a second), so a
 * new failure joins its incident live. An incident's page also has "retry root causes" and "cancel all": a dry
 * run lists the runs in the confirm dialog (static/js/actions.js), then one audited bulk action does them.
 * Server HTML is escaped by Django; data from JSON only ever goes into textContent. */
"use strict";
(function () {
  const T = window.Tributary;
  const S = T.vocab.RunStatus;
  // Root runs entering or leaving the failed state change an incident's counts; nothing else does.
  const MATTERS = new Set([S.FAILED, S.QUEUED, S.WAITING]);
  const table = document.getElementById("incidents-table");
  const head = document.getElementById("incident-head");

  let timer = null, again = false;
  function schedule(refresh) {
    if (timer) { again = true; return; }
    refresh().catch(() => {}).finally(() => {
      timer = setTimeout(() => { timer = null; if (again) { again = false; schedule(refresh); } }, 1000);
    });
  }

  async function refreshList() {
    const response = await fetch(table.dataset.rowsUrl, { credentials: "same-origin" });
    if (!response.ok) return;
    const body = table.querySelector("tbody");
    body.innerHTML = await response.text();  // rendered and escaped by the server (runs/_incident_rows.html)
    T.localizeTimes(body);
  }

  async function refreshIncident() {
    const response = await fetch(location.href, { credentials: "same-origin" });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const selector of ["#incident-runs tbody", "#incident-open", ".incident-facts"]) {
      const now = document.querySelector(selector), next = fresh.querySelector(selector);
      if (now && next) { now.replaceWith(next); T.localizeTimes(next); }
    }
  }

  // The list: a root failing (it joins an incident) or queued/waiting again (a retry: it leaves "open").
  // An incident's page: also every change of the roots it lists, until they end (healed, or failed again).
  const listed = (id) => !!document.querySelector(`#incident-runs tr[data-run="${CSS.escape(id)}"]`);
  const matters = table ? (d) => !d.parent_run_id && MATTERS.has(d.status)
    : (d) => !d.parent_run_id && (d.status === S.FAILED || listed(d.id));
  const refresh = table ? refreshList : head ? refreshIncident : null;
  if (refresh) {
    T.live("ws/runs/", {
      onOpen: (isReconnect) => { if (isReconnect) schedule(refresh); },
      onDeltas: (deltas) => { if (deltas.some(matters)) schedule(refresh); },
    });
  }

  // --- an incident's actions ------------------------------------------------------------------------------
  const bar = document.getElementById("incident-actions");
  if (!bar) return;
  const KIND = T.vocab.ActionKind;
  const SHOW = 50;  // run ids listed in the dialog; the count says how many in all
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

  function runLink(id) {
    const a = document.createElement("a");
    a.href = T.url(`runs/${encodeURIComponent(id)}/`);
    const code = document.createElement("code");
    code.textContent = id;
    a.append(code);
    return a;
  }

  async function incidentAction(action) {
    const url = T.url(`api/incidents/${encodeURIComponent(bar.dataset.incident)}/${action}`);
    const preview = await T.post(url, { dry_run: true });
    const n = preview.matched, ids = preview.run_ids || [];
    const retry = action === KIND.RETRY;
    if (!n) {
      T.say("ok", retry ? "No run of this incident is still failed: nothing to retry."
        : "No run of this incident is active (queued, running or waiting): nothing to cancel.");
      return;
    }
    const items = ids.slice(0, SHOW).map(runLink);
    if (ids.length > SHOW) items.push(`… and ${ids.length - SHOW} more`);
    const ok = await T.confirmAction({
      title: retry ? `Retry the root causes of ${plural(n, "run")}?` : `Cancel ${plural(n, "run")}?`,
      body: retry ? `Each of these failed root runs retries its root cause; when it completes, the runs above it resume:`
        : `Each of these root runs, active again since a retry, is cancelled with the runs it invoked:`,
      items,
      note: retry ? "Completed steps are not executed again. A run whose root cause fails again joins its incident again. One entry on the Audit page."
        : "A step already executing finishes and keeps its result. One entry on the Audit page.",
      confirmLabel: retry ? `Retry ${plural(n, "root cause")}` : `Cancel ${plural(n, "run")}`,
    });
    if (!ok) return;
    const done = await T.post(url, {});
    T.say("ok", `${retry ? "Retried the root causes of" : "Cancelled"} ${done.done} of ${plural(done.matched, "run")}. The list follows live.`);
    schedule(refreshIncident);
  }

  bar.addEventListener("click", (event) => {
    const button = event.target.closest("[data-incident-action]");
    if (!button || button.disabled) return;
    const buttons = bar.querySelectorAll("[data-incident-action]");
    buttons.forEach((b) => { b.disabled = true; });
    incidentAction(button.dataset.incidentAction)
      .catch((e) => T.say("error", `Not done: ${e.message}`))
      .finally(() => buttons.forEach((b) => { b.disabled = false; }));
  });
})();
