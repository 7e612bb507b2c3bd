/* Keyboard shortcuts on every page (the `?` overlay lists them). None fires while the operator types in a
 * field or holds Ctrl/Alt/Meta, so browser and screen-reader shortcuts keep working.
 *   /        focus the page's search field        j / k   move the row highlight on a list
 *   Enter    open the highlighted row             g r / g f / g e / g a / g w   go to Runs, Functions, Events, Apps, Workers
 *   ?        this help                            Esc     close it */
"use strict";
(function () {
  const T = window.Tributary;
  const GO = { r: ["runs/", "Runs"], f: ["functions/", "Functions"], e: ["events/", "Events"], a: ["apps/", "Apps"],
    w: ["workers/", "Workers"], u: ["audit/", "Audit"] };
  // Each entry: the keys pressed one after another, and what they do.
  const HELP = [[["/"], "focus search"], [["j"], "next row"], [["k"], "previous row"], [["Enter"], "open the highlighted row"],
    ...Object.entries(GO).map(([key, [, name]]) => [["g", key], `go to ${name}`]), [["?"], "show this help"], [["Esc"], "close"]];
  const GO_WINDOW_MS = 1500;  // `g` then the page's letter within this time
  let pendingG = 0;
  let current = -1;
  let overlay = null;

  function typing(target) {
    if (!(target instanceof Element)) return false;
    return target.isContentEditable || target.closest("input, textarea, select, [contenteditable]") !== null;
  }

  /** Enter on a link, button or focused graph node is theirs, not the row highlight's. */
  function interactive(target) {
    return target instanceof Element && target.closest("a[href], button, summary, [tabindex], [role=button]") !== null;
  }

  /** The rows j/k move through: the first list table on the page whose rows link somewhere. */
  function rows() {
    for (const table of document.querySelectorAll("main table")) {
      const found = [...table.querySelectorAll(":scope > tbody > tr")].filter((tr) => !tr.classList.contains("empty") && tr.querySelector("a[href]"));
      if (found.length) return found;
    }
    return [];
  }

  function highlight(step) {
    const list = rows();
    if (!list.length) return;
    const before = list.findIndex((tr) => tr.classList.contains("kb-current"));
    current = before === -1 ? (step > 0 ? 0 : list.length - 1) : Math.min(list.length - 1, Math.max(0, before + step));
    list.forEach((tr) => { tr.classList.remove("kb-current"); tr.removeAttribute("aria-selected"); });
    const row = list[current];
    row.classList.add("kb-current");
    row.setAttribute("aria-selected", "true");
    row.scrollIntoView({ block: "nearest" });
  }

  function openCurrent() {
    const row = document.querySelector("main tr.kb-current");
    if (!row) return false;
    const link = row.querySelector("td.function a[href], a[href]");  // a run row: its run, not its root cause
    if (!link) return false;
    link.click();
    return true;
  }

  function focusSearch() {
    const field = document.querySelector("main input[type=search], main input[name=q], main input[name=name]");
    if (field) { field.focus(); field.select(); return true; }
    location.href = T.url("runs/");  // no search here: the runs page has it
    return true;
  }

  function showHelp() {
    if (!overlay) {
      overlay = document.createElement("dialog");
      overlay.id = "shortcut-help";
      overlay.className = "shortcut-help";
      overlay.setAttribute("aria-labelledby", "shortcut-help-title");
      const title = document.createElement("h2");
      title.id = "shortcut-help-title";
      title.textContent = "Keyboard shortcuts";
      const list = document.createElement("dl");
      for (const [keys, what] of HELP) {
        const dt = document.createElement("dt");
        keys.forEach((k, i) => {
          if (i) dt.append(" then ");
          const kbd = document.createElement("kbd");
          kbd.textContent = k;
          dt.append(kbd);
        });
        const dd = document.createElement("dd");
        dd.textContent = what;
        list.append(dt, dd);
      }
      const close = document.createElement("button");
      close.type = "button";
      close.textContent = "Close";
      close.addEventListener("click", () => overlay.close());
      overlay.append(title, list, close);
      overlay.addEventListener("click", (event) => { if (event.target === overlay) overlay.close(); });
      document.body.append(overlay);
    }
    if (!overlay.open) overlay.showModal();
  }

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (overlay && overlay.open) return;  // the dialog handles Esc itself
    const key = event.key;
    if (pendingG && Date.now() - pendingG < GO_WINDOW_MS) {
      pendingG = 0;
      if (GO[key]) { event.preventDefault(); location.href = T.url(GO[key][0]); return; }
    }
    pendingG = 0;
    let handled = true;
    if (key === "/") handled = focusSearch();
    else if (key === "?") showHelp();
    else if (key === "j") highlight(1);
    else if (key === "k") highlight(-1);
    else if (key === "g") pendingG = Date.now();
    else if (key === "Enter" && !interactive(event.target)) handled = openCurrent();
    else handled = false;
    if (handled) event.preventDefault();
  });
})();
