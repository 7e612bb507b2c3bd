/* Operator actions (issue 5): the run page's Cancel and Retry menus (with retry from a chosen step and a rerun
 * with edited input, issue 11), the runs page's bulk actions, and pausing functions on the Functions page.
 * Each asks the JSON API for a dry run first, confirms with the number of runs affected (and, for a root-cause
 * retry, the run that executes and the chain that heals), then posts with the CSRF token and says how it went.
 * The page itself follows over the live socket. Data only ever goes into textContent. */
"use strict";
(function () {
  const T = window.Tributary;
  const MODE = T.vocab.RetryMode, KIND = T.vocab.ActionKind, ACT = T.vocab.OperatorActionName;
  const dialog = document.getElementById("action-dialog");
  const outcome = document.getElementById("action-outcome");

  function csrfToken() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
    });
    let data = {};
    try { data = await response.json(); } catch (e) { /* an HTML error page: say the status */ }
    if (!response.ok) throw new Error(data.error || `the server answered HTTP ${response.status}`);
    return data;
  }

  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const shortId = (id) => String(id).slice(-10);

  function runLink(run) {
    const a = document.createElement("a");
    a.href = T.url(`runs/${encodeURIComponent(run.id)}/`);
    a.textContent = `${run.function_id} `;
    const code = document.createElement("code");
    code.textContent = shortId(run.id);
    a.append(code);
    return a;
  }

  /** Resolves true when the operator confirms. items: nodes or text shown as a numbered list. */
  function confirmAction({ title, body, items, note, confirmLabel }) {
    dialog.querySelector(".dlg-title").textContent = title;
    dialog.querySelector(".dlg-body").textContent = body;
    dialog.querySelector(".dlg-note").textContent = note || "";
    const list = dialog.querySelector(".dlg-list");
    list.replaceChildren(...(items || []).map((item) => {
      const li = document.createElement("li");
      li.append(item);
      return li;
    }));
    list.hidden = !(items && items.length);
    dialog.querySelector(".dlg-confirm").textContent = confirmLabel;
    dialog.returnValue = "";
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
      dialog.showModal();
      dialog.querySelector(".dlg-keep").focus();  // the safe choice has the focus
    });
  }

  /** The outcome line: kind is "ok" or "error"; parts are text or nodes. */
  function say(kind, ...parts) {
    outcome.className = `action-outcome ${kind}`;
    outcome.replaceChildren(...parts);
    outcome.hidden = false;
  }

  async function act(button, work) {
    const menu = button.closest("details");
    if (menu) menu.open = false;
    const buttons = [...document.querySelectorAll("[data-action], [data-bulk], [data-pause], [data-wait-action], [data-bulk-selected]")];
    buttons.forEach((b) => { b.disabled = true; });
    try {
      await work();
    } catch (e) {
      say("error", `Not done: ${e.message}`);
    } finally {
      buttons.forEach((b) => { b.disabled = !!b.dataset.blocked; });
      if (T.selectionChanged) T.selectionChanged();  // the selection's buttons follow the selection
    }
  }

  // --- run page ------------------------------------------------------------------------------------------
  async function cancel(runId, cascade) {
    const url = T.url(`api/runs/${encodeURIComponent(runId)}/cancel`);
    const preview = await post(url, { cascade, dry_run: true });
    const n = preview.would_cancel;
    const ok = await confirmAction({
      title: cascade ? "Cancel this run and its descendants?" : "Cancel this run?",
      body: `${plural(n, "run")} will be cancelled${cascade && n > 1 ? ` (this run and ${plural(n - 1, "active descendant")})` : ""}.`,
      note: "A step already executing finishes and keeps its result; timers and waits are dropped."
        + (cascade ? " Runs started by its events (send_event) are other trees and go on."
          : " Runs it invoked keep running; a parent waiting on this run gets InvokeCancelledError."),
      confirmLabel: `Cancel ${plural(n, "run")}`,
    });
    if (!ok) return;
    const done = await post(url, { cascade });
    say("ok", `Cancelled ${plural(done.cancelled.length, "run")}. The graph follows live.`);
  }

  /** What is wrong with the text as event data ("" when it is a JSON object). */
  function jsonProblem(text) {
    let value;
    try { value = JSON.parse(text); } catch (e) { return `Not valid JSON: ${e.message}`; }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      const what = Array.isArray(value) ? "an array" : value === null ? "null" : `a ${typeof value}`;
      return `Event data must be a JSON object ({ ... }), not ${what}.`;
    }
    return "";
  }

  /** The rerun dialog's JSON editor, prefilled with the run's event data, validated as it is typed (the
   * submit button stays disabled while the text is not a JSON object). Resolves the edited data, or null. */
  function editEventData() {
    const dlg = document.getElementById("rerun-dialog");
    const area = dlg.querySelector("#rerun-data");
    const problemLine = dlg.querySelector("#rerun-data-error");
    const submit = dlg.querySelector("#rerun-submit");
    const original = JSON.parse(document.getElementById("run-event-data").textContent);
    area.value = JSON.stringify(original === null ? {} : original, null, 2);
    const check = () => {
      const problem = jsonProblem(area.value);
      problemLine.textContent = problem;
      problemLine.hidden = !problem;
      submit.disabled = !!problem;
      area.setAttribute("aria-invalid", problem ? "true" : "false");
      return problem;
    };
    area.oninput = check;
    check();
    dlg.returnValue = "";
    return new Promise((resolve) => {
      dlg.addEventListener("close", () => {
        resolve(dlg.returnValue === "confirm" && !check() ? JSON.parse(area.value) : null);
      }, { once: true });
      dlg.showModal();
      area.focus();
    });
  }

  async function rerunEdited(runId) {
    const data = await editEventData();
    if (data === null) return;
    const done = await post(T.url(`api/runs/${encodeURIComponent(runId)}/retry`), { mode: MODE.FROM_START, data });
    say("ok", "Rerun with edited input started: ", runLink(done.run), ".");
  }

  async function retryFromStep(runId, stepId, stepName) {
    const url = T.url(`api/runs/${encodeURIComponent(runId)}/retry`);
    const preview = await post(url, { mode: MODE.FROM_STEP, step_id: stepId, dry_run: true });
    const steps = preview.steps || [];
    const ok = await confirmAction({
      title: `Retry from step “${stepName}”?`,
      body: `${preview.would_execute.function_id} runs again under the same run id: the steps before it replay from `
        + `their stored results, and ${plural(steps.length, "step")} run${steps.length === 1 ? "s" : ""} again:`,
      items: steps,
      note: "Each keeps its earlier attempts; an invoke among them starts a new child run.",
      confirmLabel: "Retry from this step",
    });
    if (!ok) return;
    await post(url, { mode: MODE.FROM_STEP, step_id: stepId });
    say("ok", `Retrying this run from step “${stepName}”. The page follows live.`);
  }

  async function retry(runId, mode) {
    const url = T.url(`api/runs/${encodeURIComponent(runId)}/retry`);
    const preview = await post(url, { mode, dry_run: true });
    const executes = preview.would_execute;
    const chain = preview.chain || [];
    let options;
    if (mode === MODE.ROOT_CAUSE) {
      const resumes = chain.slice(1);
      options = {
        title: "Retry the root cause?",
        body: `The root cause is ${executes.id === runId ? "this run, " : ""}${executes.function_id} (${shortId(executes.id)}): it retries from its failed step`
          + (resumes.length ? `; when it completes, ${plural(resumes.length, "run")} resume${resumes.length === 1 ? "s" : ""} in turn with its new result:` : "."),
        items: chain.map((run, i) => {
          const span = document.createElement("span");
          span.append(runLink(run), i === 0 ? " — retried from its failed step" : " — resumes from its failed invoke");
          return span;
        }),
        note: "Completed steps anywhere in the chain are not executed again. If it fails again, the chain stays failed.",
        confirmLabel: `Retry ${executes.function_id}`,
      };
    } else if (mode === MODE.FROM_START) {
      options = {
        title: "Rerun from the start?",
        body: `A new run of ${executes.function_id} starts with the same event; this run stays as it is and links to it.`,
        confirmLabel: "Start a new run",
      };
    } else {
      options = {
        title: "Retry from the failed step?",
        body: `${executes.function_id} resumes at its failed step under the same run id; completed steps are replayed, not executed.`,
        confirmLabel: "Retry this run",
      };
    }
    if (!(await confirmAction(options))) return;
    const done = await post(url, { mode });
    const run = done.run;
    if (mode === MODE.FROM_START) {
      say("ok", "Rerun started: ", runLink(run), ".");
    } else if (mode === MODE.ROOT_CAUSE) {
      const after = `; ${plural(chain.length - 1, "run")} will resume after it. The graph follows live.`;
      if (run.id === runId) say("ok", `Retrying this run, the root cause${after}`);
      else say("ok", "Retrying the root cause ", runLink(run), after);
    } else {
      say("ok", "Retrying this run from its failed step. The page follows live.");
    }
  }

  if (document.getElementById("run-head")) {
    // Delegated: the header (with these menus) is re-rendered from the server as the run changes.
    document.addEventListener("click", (event) => {
      const button = event.target.closest("#run-actions [data-action], #step-details [data-action]");
      if (!button) return;
      const runId = document.getElementById("run-head").dataset.runId;
      act(button, async () => {
        if (button.dataset.action === KIND.CANCEL) await cancel(runId, button.dataset.cascade === "true");
        else if (button.dataset.mode === MODE.FROM_STEP) {
          await retryFromStep(runId, button.dataset.stepId, button.dataset.stepName);
        } else if (button.dataset.rerunEdit) await rerunEdited(runId);
        else await retry(runId, button.dataset.mode);
        if (T.refreshRunPage) T.refreshRunPage();  // the audit entry and the new status, without waiting
      });
    });
    // One menu open at a time; a click elsewhere closes them.
    document.addEventListener("click", (event) => {
      for (const menu of document.querySelectorAll("#run-actions details.menu[open]")) {
        if (!menu.contains(event.target)) menu.open = false;
      }
    });
  }

  // --- run page: a waiting step (issue 11 item 10) --------------------------------------------------------
  const sendDialog = document.getElementById("send-event-dialog");

  function openSendEvent(button, stepName) {
    const form = sendDialog.querySelector("form");
    const d = button.dataset;
    form.elements.name.value = d.eventName;
    form.elements.data.value = d.eventData || "{}";
    sendDialog.querySelector(".sed-what").textContent = `Step “${stepName}” waits for ${d.eventName}`
      + (d.match ? ` where ${d.match}` : "") + ". The data is prefilled so that the event matches; edit it as needed."
      + " It goes through the ordinary event intake: every wait (and trigger) it matches resolves, as for any event.";
    const expression = sendDialog.querySelector(".sed-expression");
    expression.hidden = !d.expression;
    expression.querySelector("code").textContent = d.expression || "";
    sendDialog.querySelector(".sed-note").textContent = d.note ? `Note: ${d.note}.` : "";
    sendDialog.showModal();
    form.elements.data.focus();
  }

  async function waitAction(button, runId) {
    const box = button.closest(".wait-actions");
    const stepId = box.dataset.stepId;
    const stepName = box.closest("details").querySelector("summary b").textContent.trim() || stepId;
    const runUrl = `api/runs/${encodeURIComponent(runId)}`;
    const stepUrl = T.url(`${runUrl}/steps/${encodeURIComponent(stepId)}`);
    const kind = button.dataset.waitAction;
    if (kind === ACT.WAKE) {
      const ok = await confirmAction({
        title: "Wake the sleep now?", body: `Step “${stepName}” ends at once and the run resumes after it.`,
        note: "Its code goes on as if the time had come.", confirmLabel: "Wake now",
      });
      if (!ok) return;
      const done = await post(T.url(`${runUrl}/wake`), { step_id: stepId });
      say("ok", `Woke step “${stepName}” (${done.woken}). The page follows live.`);
    } else if (kind === ACT.FAIL_INVOKE) {
      const ok = await confirmAction({
        title: "Fail the invoke?",
        body: `Step “${stepName}” fails with a StepError (“failed by operator”), as if the run it invoked had failed.`,
        note: "This run's code gets the error at the invoke: uncaught, the run fails without retrying. The invoked run keeps running.",
        confirmLabel: "Fail the invoke",
      });
      if (!ok) return;
      await post(`${stepUrl}/fail`, {});
      say("ok", `Failed the invoke of step “${stepName}”. The page follows live.`);
    } else if (kind === ACT.CANCEL_INVOKE) {
      const child = button.dataset.child;
      const preview = await post(T.url(`api/runs/${encodeURIComponent(child)}/cancel`), { cascade: true, dry_run: true });
      const n = preview.would_cancel;
      const ok = await confirmAction({
        title: "Cancel the invoked run?",
        body: `${plural(n, "run")} will be cancelled (the run step “${stepName}” invoked${n > 1 ? " and its active descendants" : ""}).`,
        note: "This run's step then fails with InvokeCancelledError, as when an invoked run is cancelled.",
        confirmLabel: `Cancel ${plural(n, "run")}`,
      });
      if (!ok) return;
      const done = await post(`${stepUrl}/cancel`, { cascade: true });
      say("ok", `Cancelled ${plural(done.cancelled.length, "run")}. The page follows live.`);
    }
  }

  if (sendDialog) {
    // Checked here first, so a typo keeps the operator on this page with the form as typed (the server checks too).
    sendDialog.querySelector("form").addEventListener("submit", (event) => {
      if (event.submitter && event.submitter.formMethod === "dialog") return;
      const data = event.target.elements.data;
      let problem = "";
      try {
        const value = JSON.parse(data.value || "{}");
        if (value === null || typeof value !== "object" || Array.isArray(value)) problem = "data must be a JSON object";
      } catch (e) { problem = `data is not JSON: ${e.message}`; }
      data.setCustomValidity(problem);
      if (problem) { event.preventDefault(); sendDialog.querySelector(".sed-note").textContent = `Not sent: ${problem}.`; data.reportValidity(); }
    });
    sendDialog.querySelector("textarea[name=data]").addEventListener("input", (event) => event.target.setCustomValidity(""));
  }

  if (document.getElementById("run-head")) {
    document.addEventListener("click", (event) => {
      const button = event.target.closest("#step-details [data-wait-action]");
      if (!button || button.disabled) return;
      const runId = document.getElementById("run-head").dataset.runId;
      if (button.dataset.waitAction === ACT.SEND_EVENT) {
        openSendEvent(button, button.closest("details").querySelector("summary b").textContent.trim());
        return;
      }
      act(button, async () => {
        await waitAction(button, runId);
        if (T.refreshRunPage) T.refreshRunPage();
      });
    });
  }

  // --- runs page: bulk -----------------------------------------------------------------------------------
  const bulkBar = document.getElementById("bulk-actions");
  if (bulkBar) {
    const config = JSON.parse(document.getElementById("bulk-config").textContent);
    if (config.blocked) bulkBar.querySelectorAll("[data-bulk]").forEach((b) => { b.dataset.blocked = "1"; });

    const describe = (filters) => Object.entries(filters).map(([k, v]) => `${k}=${v === true ? "yes" : v}`).join(", ");

    async function bulk(action) {
      const filters = { ...config.filters };
      if (config.since_seconds) filters.since = new Date(Date.now() - config.since_seconds * 1000).toISOString();
      const preview = await post(T.url("api/runs/bulk"), { action, filters, dry_run: true });
      const n = preview.matched;
      const active = T.vocab.active_run_statuses;
      const what = action === KIND.CANCEL ? `${active.slice(0, -1).join(", ")} or ${active[active.length - 1]}`
        : T.vocab.RunStatus.FAILED;
      if (!n) { say("ok", `No ${what} runs match these filters: nothing to ${action}.`); return; }
      const ok = await confirmAction({
        title: action === KIND.CANCEL ? `Cancel ${plural(n, "run")}?` : `Retry ${plural(n, "failed run")}?`,
        body: `${plural(n, "run")} (${what}) match ${describe(filters)}:`,
        items: idItems(preview.run_ids || [], n),
        note: action === KIND.CANCEL
          ? "Each is cancelled on its own (runs they invoked are not). Processed in batches; progress is on the Audit page."
          : "Each resumes from its failed step. Processed in batches; progress is on the Audit page.",
        confirmLabel: action === KIND.CANCEL ? `Cancel ${plural(n, "run")}` : `Retry ${plural(n, "run")}`,
      });
      if (!ok) return;
      const audit = document.createElement("a");
      audit.href = T.url("audit/");
      audit.textContent = "Audit";
      say("ok", `Working on ${plural(n, "run")}… progress on the `, audit, " page.");
      const done = await post(T.url("api/runs/bulk"), { action, filters });
      const verb = action === KIND.CANCEL ? "Cancelled" : "Retried";
      const audit2 = audit.cloneNode(true);
      say("ok", `${verb} ${done.done} of ${plural(done.matched, "matched run")}. Recorded on the `, audit2, " page.");
    }

    bulkBar.addEventListener("click", (event) => {
      const button = event.target.closest("[data-bulk]");
      if (!button || button.disabled) return;
      act(button, () => bulk(button.dataset.bulk));
    });

    // --- by selection (issue 11 item 8): the rows' checkboxes -------------------------------------------
    const table = document.getElementById("runs-table");
    const selectAll = document.getElementById("select-all");
    const count = document.getElementById("selected-count");
    const boxes = () => [...table.querySelectorAll("tbody input.select-run")];
    const chosen = () => boxes().filter((box) => box.checked).map((box) => box.value);

    /** The bar and the select-all box follow the checked rows (also after live updates re-render rows). */
    function selectionChanged() {
      const all = boxes(), ids = chosen();
      count.textContent = String(ids.length);
      selectAll.checked = all.length > 0 && ids.length === all.length;
      selectAll.indeterminate = ids.length > 0 && ids.length < all.length;
      document.querySelectorAll("[data-bulk-selected]").forEach((b) => { b.disabled = !ids.length; });
    }
    T.selectionChanged = selectionChanged;

    table.addEventListener("change", (event) => {
      if (event.target === selectAll) boxes().forEach((box) => { box.checked = selectAll.checked; });
      if (event.target === selectAll || event.target.matches("input.select-run")) selectionChanged();
    });
    document.addEventListener("tributary:rows", selectionChanged);  // static/js/runs.js swapped rows in

    async function bulkSelected(action) {
      const ids = chosen();
      const preview = await post(T.url("api/runs/bulk"), { action, run_ids: ids, dry_run: true });
      const n = preview.matched;
      const can = action === KIND.CANCEL ? "queued, running or waiting" : T.vocab.RunStatus.FAILED;
      if (!n) { say("ok", `None of the ${plural(ids.length, "selected run")} is ${can}: nothing to ${action}.`); return; }
      const ok = await confirmAction({
        title: action === KIND.CANCEL ? `Cancel ${plural(n, "selected run")}?` : `Retry ${plural(n, "selected run")}?`,
        body: `${n} of the ${plural(ids.length, "selected run")} ${n === 1 ? "is" : "are"} ${can} and will be `
          + `${action === KIND.CANCEL ? T.vocab.status_labels[T.vocab.RunStatus.CANCELLED].toLowerCase() : "retried from the failed step"}:`,
        items: idItems(preview.run_ids, n),
        note: n < ids.length ? `The other ${plural(ids.length - n, "selected run")} ${ids.length - n === 1 ? "is left as it is" : "are left as they are"}.` : "",
        confirmLabel: action === KIND.CANCEL ? `Cancel ${plural(n, "run")}` : `Retry ${plural(n, "run")}`,
      });
      if (!ok) return;
      const done = await post(T.url("api/runs/bulk"), { action, run_ids: ids });
      boxes().forEach((box) => { box.checked = false; });
      const verb = action === KIND.CANCEL ? "Cancelled" : "Retried";
      say("ok", `${verb} ${done.done} of ${plural(ids.length, "selected run")}. The rows follow live.`);
    }

    bulkBar.addEventListener("click", (event) => {
      const button = event.target.closest("[data-bulk-selected]");
      if (!button || button.disabled) return;
      act(button, () => bulkSelected(button.dataset.bulkSelected));
    });
    selectionChanged();
  }

  /** A preview's run ids as links, for the confirm dialog's list (the first SHOWN_IDS; the count is exact). */
  const SHOWN_IDS = 100;
  function idItems(ids, total) {
    const items = ids.slice(0, SHOWN_IDS).map((id) => {
      const a = document.createElement("a");
      a.href = T.url(`runs/${encodeURIComponent(id)}/`);
      a.className = "preview-run";
      const code = document.createElement("code");
      code.textContent = id;
      a.append(code);
      return a;
    });
    if (total > items.length) items.push(`… and ${plural(total - items.length, "more run")}`);
    return items;
  }

  // --- functions page: pause and resume a function ------------------------------------------------------
  const functionsTable = document.querySelector("table.functions");
  if (functionsTable) {
    async function setPaused(button) {
      const { appId, functionId } = button.dataset;
      const pause = button.dataset.pause === "pause";
      const url = T.url(`api/functions/${encodeURIComponent(appId)}/${encodeURIComponent(functionId)}/${pause ? "pause" : "resume"}`);
      const preview = await post(url, { dry_run: true });
      const ok = await confirmAction(pause ? {
        title: `Pause ${functionId}?`,
        body: `New events still create runs of ${functionId} (app ${appId}), but none starts until you resume it.`,
        note: "Runs executing right now finish their current step; runs it is invoked by wait for it.",
        confirmLabel: `Pause ${functionId}`,
      } : {
        title: `Resume ${functionId}?`,
        body: `${plural(preview.parked_runs, "queued run")} of ${functionId} held while it was paused start, oldest first.`,
        confirmLabel: `Resume ${functionId}`,
      });
      if (!ok) return;
      const done = await post(url, {});
      const row = button.closest("tr");
      const cell = row.querySelector("td");
      const badge = cell.querySelector(".paused-badge");
      if (done.paused && !badge) {
        const span = document.createElement("span");
        span.className = "paused-badge";
        span.title = "paused by an operator: new runs queue, none starts until the function is resumed";
        const icon = document.createElement("i");
        icon.setAttribute("aria-hidden", "true");
        span.append(icon, "paused");
        cell.append(span);
      } else if (!done.paused && badge) badge.remove();
      button.dataset.pause = done.paused ? "resume" : "pause";
      button.textContent = done.paused ? "Resume" : "Pause";
      say("ok", done.paused ? `Paused ${functionId}: its new runs queue until you resume it.`
        : `Resumed ${functionId}: ${plural(done.resumed_runs, "queued run")} due again.`);
    }

    functionsTable.addEventListener("click", (event) => {
      const button = event.target.closest("[data-pause]");
      if (!button || button.disabled) return;
      act(button, () => setPaused(button));
    });
  }

  T.post = post;
  // For other pages' actions (static/js/incidents.js): the same confirm dialog and outcome line.
  T.confirmAction = confirmAction;
  T.say = say;
})();
