/* The Metrics page: two uPlot charts (runs started/completed/failed, p50/p95 duration) and the tiles above
 * them, drawn from GET api/metrics. The window links and the function selector fetch again without a reload
 * (the URL follows, so a reload or a shared link shows the same); every 30 s the numbers refresh. Colours come
 * from the page's CSS variables, so the charts follow the page's light or dark theme. Text is only ever set
 * with textContent. */
"use strict";
(function () {
  const T = window.Tributary;
  const REFRESH_MS = 30000;
  const form = document.getElementById("metrics-form");
  const select = document.getElementById("metrics-function");
  const problem = document.getElementById("metrics-problem");
  let data = JSON.parse(document.getElementById("metrics-data").textContent);
  const charts = {};

  function cssVar(name, fallback) {
    const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function count(n) { return n === null || n === undefined ? "—" : String(Math.round(n)); }

  function axes(formatY) {
    const ink = cssVar("--muted", "#5b6470");
    const grid = { stroke: cssVar("--line", "#e3e6ea"), width: 1 };
    return [
      { stroke: ink, grid, ticks: grid },
      { stroke: ink, grid, ticks: grid, size: 64, values: (u, splits) => splits.map(formatY) },
    ];
  }

  function bucketLabel() {
    const minutes = data.bucket_seconds / 60;
    return minutes === 1 ? "per minute" : minutes < 60 ? `per ${minutes} minutes` : `per ${minutes / 60} hour`;
  }

  const S = T.vocab.RunStatus;
  const LABELS = T.vocab.status_labels;

  const CHARTS = {
    throughput: {
      series: () => [
        { label: "started", stroke: cssVar("--running", "#2563eb"), width: 1.5, value: (u, v) => count(v) },
        { label: LABELS[S.COMPLETED].toLowerCase(), stroke: cssVar("--completed", "#16a34a"), width: 1.5, value: (u, v) => count(v) },
        { label: LABELS[S.FAILED].toLowerCase(), stroke: cssVar("--failed", "#dc2626"), width: 2, value: (u, v) => count(v) },
      ],
      columns: (s) => [s.started, s.completed, s.failed],
      hasData: (s) => s.started.some((v) => v > 0) || s.completed.some((v) => v > 0) || s.failed.some((v) => v > 0),
      formatY: (v) => (Number.isInteger(v) ? String(v) : ""),
    },
    durations: {
      series: () => [
        // Points as well as lines: a bucket between two empty ones is a point, not an invisible segment.
        { label: "p50", stroke: cssVar("--running", "#2563eb"), width: 1.5, spanGaps: false, points: { show: true, size: 4 },
          value: (u, v) => T.humanMs(v) },
        { label: "p95", stroke: cssVar("--waiting", "#7c3aed"), width: 1.5, dash: [6, 3], spanGaps: false,
          points: { show: true, size: 4 }, value: (u, v) => T.humanMs(v) },
      ],
      columns: (s) => [s.p50_ms, s.p95_ms],
      hasData: (s) => s.p50_ms.some((v) => v !== null),
      formatY: (v) => (v === 0 ? "0" : T.humanMs(v)),
    },
  };

  /** The chart's content width: the panel's width less its padding (a hidden chart measures its panel). */
  function chartWidth(el) {
    const box = el.hidden ? el.parentElement : el;
    const style = getComputedStyle(box);
    const inner = box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    return Math.max(320, Math.floor(inner) - (el.hidden ? 24 : 0));
  }

  function draw(name) {
    const spec = CHARTS[name];
    const el = document.getElementById(`chart-${name}`);
    const empty = el.parentElement.querySelector(".chart-empty");
    const s = data.series;
    const shown = spec.hasData(s);
    empty.hidden = shown;
    el.hidden = !shown;
    el.dataset.points = String(s.t.length);
    if (charts[name]) { charts[name].destroy(); delete charts[name]; }
    if (!shown) return;
    const options = {
      width: chartWidth(el), height: 220,
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(max, name === "throughput" ? 1 : 10) * 1.1] } },
      series: [{ label: "time", value: (u, v) => (v === null ? "—" : T.formatTime(new Date(v * 1000))) },
        ...spec.series()],
      axes: axes(spec.formatY),
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
    };
    charts[name] = new uPlot(options, [s.t, ...spec.columns(s)], el);
  }

  function renderTiles() {
    for (const el of document.querySelectorAll("[data-total]")) {
      const key = el.dataset.total, value = data.totals[key];
      el.textContent = key.endsWith("_ms") ? T.humanMs(value) : count(value);
    }
    document.querySelector("[data-backlog=runs]").textContent = count(data.backlog.runs);
    const age = data.backlog.oldest_age_seconds;
    document.querySelector("[data-backlog=oldest_age_seconds]").textContent =
      age === null ? "—" : T.humanMs(age * 1000);
    document.getElementById("metrics-label").textContent = data.label;
    document.querySelector("[data-bucket-label]").textContent = `started, completed and failed ${bucketLabel()}`;
    for (const link of form.querySelectorAll("a.window")) {
      if (link.dataset.window === data.window) link.setAttribute("aria-current", "true");
      else link.removeAttribute("aria-current");
    }
    form.elements.window.value = data.window;
  }

  function render() {
    renderTiles();
    for (const name of Object.keys(CHARTS)) draw(name);
    document.body.dataset.metricsWindow = data.window;
    document.body.dataset.metricsFunction = data.function || "";
  }

  function query(windowName, fn) {
    const params = new URLSearchParams({ window: windowName });
    if (fn) params.set("function", fn);
    return params.toString();
  }

  let loading = 0;
  // What the operator chose last: a periodic refresh asks for it too, so it never undoes a choice in flight.
  let wanted = { window: data.window, fn: data.function || "" };
  async function load(windowName, fn) {
    wanted = { window: windowName, fn };
    const mine = ++loading;
    const q = query(windowName, fn);
    try {
      const fresh = await T.getJSON(T.url(`api/metrics?${q}`));
      if (mine !== loading) return; // a later choice won
      data = fresh;
      history.replaceState(null, "", `?${q}`);
      problem.hidden = true;
      render();
    } catch (err) {
      if (mine !== loading) return;
      problem.textContent = `Not refreshed (${err.message}); the charts show the last answer.`;
      problem.hidden = false;
    }
  }

  form.addEventListener("click", (event) => {
    const link = event.target.closest("a.window");
    if (!link) return;
    event.preventDefault();
    load(link.dataset.window, select.value);
  });
  select.addEventListener("change", () => load(wanted.window, select.value));
  form.addEventListener("submit", (event) => { event.preventDefault(); load(wanted.window, select.value); });

  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      for (const [name, chart] of Object.entries(charts)) {
        chart.setSize({ width: chartWidth(document.getElementById(`chart-${name}`)), height: 220 });
      }
    }, 100);
  });
  if (window.matchMedia) {  // the theme changed: redraw with its colours
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", render);
  }
  setInterval(() => { if (!document.hidden) load(wanted.window, wanted.fn); }, REFRESH_MS);
  render();
})();
