/* Run page: the invocation graph (Cytoscape, positions from a tidy tree layout computed here: fast for big
 * trees, no force simulation), live status from /ws/graph/<root>/, and the page's own sections refreshed from
 * the server when this run or its children change. Data only ever goes into textContent or Cytoscape data. */
"use strict";
(function () {
  const T = window.Tributary;
  const config = JSON.parse(document.getElementById("graph-config").textContent);
  const container = document.getElementById("graph");
  const statusLine = document.getElementById("graph-status");
  const X_GAP = 168, Y_GAP = 78, WRAP = 8;  // leaf siblings beyond WRAP go into rows under their parent
  const GROUP_LEAVES = 10;  // more leaf siblings of one function and status than this start as one node
  const S = T.vocab.RunStatus;
  const TERMINAL = new Set(T.vocab.terminal_run_statuses);
  const ICON = { [S.QUEUED]: "○", [S.RUNNING]: "▶", [S.WAITING]: "◷", [S.COMPLETED]: "✓", [S.FAILED]: "✕",
    [S.CANCELLED]: "⊘", [S.SKIPPED]: "–" };
  const STATUS_ORDER = [S.FAILED, S.RUNNING, S.WAITING, S.QUEUED, S.CANCELLED, S.SKIPPED, S.COMPLETED];

  let cy = null;
  const gridded = new Set();    // leaves laid out in rows under their parent: their edges are drawn straight
  let graph = null;             // the last graph JSON (after client-side expansions)
  const nodes = new Map();      // id -> node JSON (with version)
  const memberOf = new Map();   // run id -> aggregate node id
  const expanded = new Set();   // aggregate ids the operator opened
  let refetchTimer = null, pageTimer = null, fetching = false, again = false;
  const started = performance.now();

  // --- layout: a tidy tree (parents centred over their children), computed in one pass ---------------------
  function layout(list) {
    const byId = new Map(list.map((n) => [n.id, n]));
    const children = new Map();
    const roots = [];
    for (const n of list) {
      const parent = n.parent_id && byId.has(n.parent_id) ? n.parent_id
        : (n.triggered_by && byId.has(n.triggered_by) ? n.triggered_by : null);
      if (parent) {
        if (!children.has(parent)) children.set(parent, []);
        children.get(parent).push(n.id);
      } else {
        roots.push(n.id);
      }
    }
    // Siblings in the order of what tells them apart (a fan-out's labels: 0002 before 0010), else by id.
    const sortKey = (id) => { const n = byId.get(id); return n && n.label ? n.label : id; };
    const order = (a, b) => {
      const ga = /^(c?group|more):/.test(a), gb = /^(c?group|more):/.test(b);
      if (ga !== gb) return ga ? 1 : -1;
      const ka = sortKey(a), kb = sortKey(b);
      return ka.localeCompare(kb, undefined, { numeric: true }) || (a < b ? -1 : a > b ? 1 : 0);
    };
    const pos = new Map();
    gridded.clear();
    let cursor = 0;
    // Iterative post-order walk (a deep chain must not overflow the call stack).
    function place(rootId) {
      const stack = [[rootId, 0, false]];
      while (stack.length) {
        const [id, level, done] = stack.pop();
        const kids = (children.get(id) || []).slice().sort(order);
        if (!done) {
          stack.push([id, level, true]);
          const inner = kids.filter((k) => children.has(k));
          for (let i = inner.length - 1; i >= 0; i -= 1) stack.push([inner[i], level + 1, false]);
          // Leaves are placed now, before the inner subtrees that the stack visits next, in a grid when many.
          const leaves = kids.filter((k) => !children.has(k));
          const cols = leaves.length > WRAP ? WRAP : leaves.length;
          if (leaves.length > WRAP) leaves.forEach((leaf) => gridded.add(leaf));
          leaves.forEach((leaf, i) => {
            pos.set(leaf, { x: (cursor + (i % Math.max(cols, 1))) * X_GAP, y: (level + 1 + Math.floor(i / WRAP)) * Y_GAP });
          });
          cursor += cols;
          continue;
        }
        if (!kids.length) {
          pos.set(id, { x: cursor * X_GAP, y: level * Y_GAP });
          cursor += 1;
        } else {
          const xs = kids.map((k) => pos.get(k).x);
          pos.set(id, { x: (Math.min(...xs) + Math.max(...xs)) / 2, y: level * Y_GAP });
        }
      }
      cursor += 0.5;  // a little air between separate trees
    }
    roots.sort(order).forEach(place);
    return pos;
  }

  // --- elements ------------------------------------------------------------------------------------------
  function label(n) {
    const icon = ICON[n.status] || "";
    if (n.id.startsWith("more:")) return `${icon} ${n.count} more ${n.function_id}…`;
    if (n.aggregate) return `${icon} ${n.count} × ${n.function_id}\n${n.status}`;
    // A fan-out's runs say which is which (dashboard/graph.py sibling_labels): not 30 × the same name.
    return n.label ? `${icon} ${n.function_id}\n${n.label}` : `${icon} ${n.function_id}`;
  }

  function elements(data) {
    const propagation = new Set();
    const propNodes = new Set();
    for (const path of data.propagation || []) {
      path.forEach((id, i) => { propNodes.add(id); if (i > 0) propagation.add(`${id}>${path[i - 1]}`); });
    }
    const pos = layout(data.nodes);
    const els = [];
    for (const n of data.nodes) {
      const classes = [`s-${n.status}`];
      if (n.aggregate) classes.push("aggregate");
      if (n.label && !n.aggregate) classes.push("labelled");
      if (n.id === config.run_id) classes.push("focus");
      if (propNodes.has(n.id)) classes.push("prop");
      els.push({ group: "nodes", data: { id: n.id, label: label(n), status: n.status }, position: pos.get(n.id), classes: classes.join(" ") });
    }
    data.edges.forEach((e, i) => {
      const classes = [e.kind === "event" ? "event" : "invoke"];
      if (gridded.has(e.target)) classes.push("grid");
      if (propagation.has(`${e.source}>${e.target}`)) classes.push("prop");
      els.push({ group: "edges", data: { id: `e${i}:${e.source}>${e.target}`, source: e.source, target: e.target }, classes: classes.join(" ") });
    });
    return els;
  }

  // Colours for the system's light or dark scheme (static/css/app.css follows prefers-color-scheme too).
  const PALETTES = {
    light: { bg: "#ffffff", border: "#8a929c", text: "#1d2430", queuedText: "#4a525c",
      running: ["#eff6ff", "#2563eb"], waiting: ["#f5f3ff", "#7c3aed"], completed: ["#dcfce7", "#15803d", "#14532d"],
      failed: ["#dc2626", "#7f1d1d", "#ffffff"], cancelled: ["#fef3c7", "#d97706", "#78350f"],
      skipped: ["#f3f4f6", "#9ca3af", "#6b7280"], focus: "#1d2430", edge: "#9aa3ad", event: "#6b7280", prop: "#b91c1c",
      propNode: "#7f1d1d", kb: "#2563eb" },
    dark: { bg: "#1f252e", border: "#6b7480", text: "#e6e9ee", queuedText: "#cbd5e1",
      running: ["#172554", "#60a5fa"], waiting: ["#2e1065", "#a78bfa"], completed: ["#052e16", "#22c55e", "#bbf7d0"],
      failed: ["#b91c1c", "#fca5a5", "#ffffff"], cancelled: ["#2a1f08", "#f59e0b", "#fde68a"],
      skipped: ["#1f252e", "#6b7280", "#9ca3af"], focus: "#e6e9ee", edge: "#6b7480", event: "#9aa4b1", prop: "#f87171",
      propNode: "#fca5a5", kb: "#7cacff" },
  };
  const darkQuery = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  const scheme = () => (darkQuery && darkQuery.matches ? "dark" : "light");

  function style(big) {
    const edgeCurve = big ? "haystack" : "taxi";
    const p = PALETTES[scheme()];
    return [
      { selector: "node", style: {
        shape: "round-rectangle", width: 148, height: 30, label: "data(label)", "font-size": 11,
        "font-family": "system-ui, sans-serif", "text-valign": "center", "text-halign": "center",
        "text-wrap": "ellipsis", "text-max-width": 138, "background-color": p.bg, "border-width": 1.5,
        "border-color": p.border, color: p.text } },
      { selector: "node.labelled", style: { height: 38, "text-wrap": "wrap", "line-height": 1.25 } },
      { selector: "node.aggregate", style: { height: 40, "text-wrap": "wrap", "border-style": "double", "border-width": 4 } },
      { selector: "node.s-queued", style: { "background-color": p.bg, "border-color": p.border, color: p.queuedText } },
      { selector: "node.s-running", style: { "background-color": p.running[0], "border-color": p.running[1], "border-width": 3 } },
      { selector: "node.s-waiting", style: { "background-color": p.waiting[0], "border-color": p.waiting[1], "border-width": 2 } },
      { selector: "node.s-completed", style: { "background-color": p.completed[0], "border-color": p.completed[1], color: p.completed[2] } },
      { selector: "node.s-failed", style: { "background-color": p.failed[0], "border-color": p.failed[1], "border-width": 3, color: p.failed[2], "font-weight": 600 } },
      { selector: "node.s-cancelled", style: { "background-color": p.cancelled[0], "border-color": p.cancelled[1], color: p.cancelled[2] } },
      { selector: "node.s-skipped", style: { "background-color": p.skipped[0], "border-color": p.skipped[1], "border-style": "dashed", color: p.skipped[2] } },
      { selector: "node.focus", style: { "underlay-color": p.focus, "underlay-padding": 7, "underlay-opacity": 0.22, "underlay-shape": "round-rectangle", "font-weight": 700 } },
      { selector: "node.prop", style: { "border-width": 5, "border-color": p.propNode } },
      { selector: "node.hl", style: { "underlay-color": "#dc2626", "underlay-padding": 9, "underlay-opacity": 0.35 } },
      { selector: "node.kb", style: { "border-width": 4, "border-color": p.kb, "underlay-color": p.kb, "underlay-padding": 8, "underlay-opacity": 0.35, "underlay-shape": "round-rectangle" } },
      { selector: "edge", style: { width: 1.5, "line-color": p.edge, "curve-style": edgeCurve, "taxi-direction": "downward",
        "taxi-turn": 30, "target-arrow-shape": big ? "none" : "triangle", "target-arrow-color": p.edge, "arrow-scale": 0.8 } },
      { selector: "edge.event", style: { "line-style": "dashed", "line-dash-pattern": [6, 4], "line-color": p.event, "target-arrow-color": p.event,
        "curve-style": big ? "haystack" : "bezier", "target-arrow-shape": big ? "none" : "vee" } },
      { selector: "edge.grid", style: { "curve-style": big ? "haystack" : "straight", opacity: 0.45, "target-arrow-shape": "none" } },
      { selector: "edge.prop", style: { width: 5, "line-color": p.prop, "target-arrow-color": p.prop, "z-index": 10 } },
      { selector: "edge.hl", style: { width: 7 } },
    ];
  }

  function render(data) {
    const big = data.nodes.length > 600;
    const els = elements(data);
    if (!cy) {
      container.textContent = "";
      cy = window.cytoscape({
        container, elements: els, style: style(big), layout: { name: "preset" },
        minZoom: 0.05, maxZoom: 2.5, autoungrabify: true, boxSelectionEnabled: false,
        textureOnViewport: big, hideEdgesOnViewport: big, pixelRatio: big ? 1 : "auto",
      });
      window.tributaryCy = cy;  // for the end-to-end tests and the curious console user
      bindEvents();
      frame();
      // The system switched between light and dark: recolour (the page's CSS follows by itself).
      if (darkQuery && darkQuery.addEventListener) darkQuery.addEventListener("change", () => cy.style(style(big)));
    } else {
      const pan = cy.pan(), zoom = cy.zoom();
      cy.batch(() => { cy.elements().remove(); cy.add(els); });
      cy.viewport({ zoom, pan });
    }
    nodes.clear(); memberOf.clear();
    for (const n of data.nodes) {
      nodes.set(n.id, n);
      for (const m of n.members || []) memberOf.set(m, n.id);
    }
    describe(data);
    renderNodeList(data);
  }

  // --- the graph by keyboard: Cytoscape's canvas cannot hold focus, so each node has a button in a list under
  // it (one Tab stop; arrow keys move between nodes, Home/End to the ends). Focusing a button rings its node in
  // the graph and brings it into view; Enter opens it, as a click on the node does.
  const nodeList = document.createElement("ul");
  nodeList.className = "graph-nodes";
  nodeList.id = "graph-nodes";
  nodeList.setAttribute("aria-label", "Runs in the graph (arrow keys move, Enter opens)");
  statusLine.after(nodeList);
  const MAX_LISTED = 400;  // a bigger graph lists its first nodes: the runs page finds the rest
  let focusedNode = null;

  function nodeText(n) {
    const name = n.aggregate ? `${n.count} × ${n.function_id}` : (n.id.startsWith("more:") ? `${n.count} more ${n.function_id}` : n.function_id);
    const which = n.label && !n.aggregate ? ` ${n.label}` : "";
    const here = n.id === config.run_id ? " (this run)" : "";
    return `${ICON[n.status] || ""} ${name}${which}, ${n.status}${here}`;
  }

  function renderNodeList(data) {
    const keep = focusedNode;
    const hadFocus = nodeList.contains(document.activeElement);
    nodeList.textContent = "";
    const ordered = data.nodes.slice().sort((a, b) => (a.depth || 0) - (b.depth || 0)
      || (a.label || a.id).localeCompare(b.label || b.id, undefined, { numeric: true }) || (a.id < b.id ? -1 : 1));
    ordered.slice(0, MAX_LISTED).forEach((n, i) => {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.node = n.id;
      button.textContent = nodeText(n);
      button.tabIndex = (keep ? n.id === keep : i === 0) ? 0 : -1;
      if (n.id === config.run_id) button.setAttribute("aria-current", "true");
      li.append(button);
      nodeList.append(li);
    });
    if (!nodeList.querySelector("button[tabindex='0']") && nodeList.firstElementChild) nodeList.querySelector("button").tabIndex = 0;
    if (hadFocus && keep) { const b = nodeList.querySelector(`button[data-node="${CSS.escape(keep)}"]`); if (b) b.focus(); }
  }

  function markNode(id) {
    if (!cy) return;
    cy.nodes(".kb").removeClass("kb");
    focusedNode = id;
    if (!id) return;
    const el = cy.getElementById(id);
    if (el.empty()) return;
    el.addClass("kb");
    const bb = el.renderedBoundingBox(), w = container.clientWidth, h = container.clientHeight;
    if (bb.x1 < 0 || bb.y1 < 0 || bb.x2 > w || bb.y2 > h) cy.center(el);  // off screen: bring it into view
  }

  nodeList.addEventListener("focusin", (event) => {
    const button = event.target.closest("button[data-node]");
    if (!button) return;
    nodeList.querySelectorAll("button[data-node]").forEach((b) => { b.tabIndex = b === button ? 0 : -1; });
    markNode(button.dataset.node);
  });
  nodeList.addEventListener("focusout", (event) => {
    if (!nodeList.contains(event.relatedTarget)) { if (cy) cy.nodes(".kb").removeClass("kb"); }
  });
  nodeList.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-node]");
    if (button) openNode(button.dataset.node);
  });
  nodeList.addEventListener("keydown", (event) => {
    const buttons = [...nodeList.querySelectorAll("button[data-node]")];
    const at = buttons.indexOf(document.activeElement);
    if (at === -1) return;
    const next = { ArrowRight: at + 1, ArrowDown: at + 1, ArrowLeft: at - 1, ArrowUp: at - 1, Home: 0, End: buttons.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    buttons[Math.max(0, Math.min(buttons.length - 1, next))].focus();
  });

  /** Open centred on this run: the whole tree when it fits readably, else this run at a readable zoom. */
  function frame() {
    cy.fit(undefined, 24);
    const focus = cy.getElementById(config.run_id);
    if (cy.zoom() < 0.45 && focus.nonempty()) {
      cy.zoom(0.8);
      cy.center(focus);
    } else if (cy.zoom() > 1.25) {
      cy.zoom(1.25);
      cy.center();
    }
  }

  function describe(data) {
    const counts = {};
    let total = 0;
    for (const n of data.nodes) {
      const k = n.aggregate || n.id.startsWith("more:") ? n.count : 1;
      counts[n.status] = (counts[n.status] || 0) + k;
      total += k;
    }
    const size = data.size ?? total;
    const parts = [`${size} run${size === 1 ? "" : "s"} in this tree${total > size ? ` + ${total - size} started by its events` : ""}`];
    if (data.nodes.some((n) => n.aggregate)) parts.push("grouped siblings open on click");
    parts.push(STATUS_ORDER.filter((s) => counts[s]).map((s) => `${counts[s]} ${s}`).join(", "));
    statusLine.textContent = parts.join(" · ");
  }

  // --- interaction ---------------------------------------------------------------------------------------
  const tip = document.createElement("div");
  tip.className = "graph-tip";
  tip.hidden = true;
  container.parentElement.append(tip);

  function bindEvents() {
    cy.on("tap", "node", (event) => openNode(event.target.id()));
    cy.on("mouseover", "node", (event) => {
      const n = nodes.get(event.target.id());
      if (!n) return;
      const lines = [n.aggregate ? `${n.count} × ${n.function_id}` : `${n.function_id}${n.label ? ` ${n.label}` : ""}`, `${n.status}${n.aggregate ? "" : ` · ${took(n)}`}`];
      if (n.runtime && n.runtime !== "python") lines.push(`${n.app_id} · ${n.runtime}`);  // an SDK app's function
      lines.push(n.aggregate ? "click to expand" : (n.id === config.run_id ? "this run" : "click to open"));
      tip.textContent = lines.join("\n");
      const p = event.target.renderedPosition();
      tip.style.left = `${p.x + 80}px`;
      tip.style.top = `${p.y + 30}px`;
      tip.hidden = false;
      container.style.cursor = "pointer";
    });
    cy.on("mouseout", "node", () => { tip.hidden = true; container.style.cursor = ""; });
    cy.on("viewport", () => { tip.hidden = true; });
    document.getElementById("graph-fit").addEventListener("click", () => cy.fit(undefined, 24));
    bindCausePanel();
  }

  /** What a click on a node (or Enter on its button) does: open its run, or open a group into its runs. */
  function openNode(id) {
    const n = nodes.get(id);
    if (!n) return;
    if (n.aggregate) { expand(id); return; }
    if (id.startsWith("more:")) { location.href = T.url(`runs/?function=${encodeURIComponent(n.function_id)}&status=${encodeURIComponent(n.status)}`); return; }
    if (id !== config.run_id) location.href = T.url(`runs/${encodeURIComponent(id)}/`);
  }

  function took(n) {
    if (!n.started_at) return "not started";
    const end = n.ended_at ? Date.parse(n.ended_at) : Date.now();
    return `${T.humanMs(end - Date.parse(n.started_at))}${n.ended_at ? "" : "…"}`;
  }

  /** Hovering the Root cause panel highlights the propagation path in the graph. */
  function bindCausePanel() {
    const panel = document.getElementById("root-cause");
    if (!panel || !cy) return;
    const ids = (panel.dataset.path || "").trim().split(/\s+/).filter(Boolean);
    const path = () => {
      let els = cy.collection();
      ids.forEach((id, i) => {
        els = els.union(cy.getElementById(id));
        if (i > 0) els = els.union(cy.edges().filter((e) => e.source().id() === id && e.target().id() === ids[i - 1]));
      });
      return els;
    };
    panel.addEventListener("mouseenter", () => path().addClass("hl"));
    panel.addEventListener("mouseleave", () => path().removeClass("hl"));
  }

  /** An aggregated node opens into its member runs (the API lists up to 50), plus a node for the rest. */
  function expand(id) {
    expanded.add(id);
    if (!graph) return;
    render(applyExpansions(graph));
    frame();  // the tree changed shape: show it whole again
  }

  /** Big groups of leaf siblings (one function, one status) start collapsed here too, like the server's
   * aggregation of big trees: the graph stays calm, and a click opens the group. */
  function groupLeaves(data) {
    const keep = new Set([config.run_id, ...config.propagation]);
    for (const path of data.propagation || []) path.forEach((id) => keep.add(id));
    const hasChildren = new Set(data.nodes.map((n) => n.parent_id).filter(Boolean));
    const groups = new Map();
    for (const n of data.nodes) {
      if (!n.parent_id || n.aggregate || hasChildren.has(n.id) || keep.has(n.id)) continue;
      const key = `cgroup:${n.parent_id}:${n.function_id}:${n.status}`;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(n);
    }
    const drop = new Set();
    const added = [];
    for (const [key, members] of groups) {
      if (members.length <= GROUP_LEAVES || expanded.has(key)) continue;
      members.forEach((m) => drop.add(m.id));
      const first = members[0];
      added.push({ id: key, aggregate: true, count: members.length, members: members.map((m) => m.id).sort(),
        function_id: first.function_id, app_id: first.app_id, status: first.status, parent_id: first.parent_id,
        depth: first.depth, version: 0, client: true });
    }
    if (!added.length) return data;
    const edges = data.edges.filter((e) => !drop.has(e.target))
      .concat(added.map((g) => ({ source: g.parent_id, target: g.id, kind: "invoke", step_id: null })));
    return { ...data, nodes: data.nodes.filter((n) => !drop.has(n.id)).concat(added), edges };
  }

  function applyExpansions(data) {
    let out = data;
    for (const id of expanded) {
      const group = out.nodes.find((n) => n.id === id);
      if (!group || group.client) continue;
      const labels = group.member_labels || {};
      const members = (group.members || []).map((m) => ({ id: m, function_id: group.function_id, app_id: group.app_id,
        status: group.status, parent_id: group.parent_id, depth: group.depth, version: 0, label: labels[m] || null }));
      const rest = group.count - members.length;
      const extra = rest > 0 ? [{ id: `more:${id}`, function_id: group.function_id, app_id: group.app_id, status: group.status,
        parent_id: group.parent_id, depth: group.depth, aggregate: false, count: rest }] : [];
      const added = [...members, ...extra];
      const edges = out.edges.filter((e) => e.target !== id)
        .concat(added.map((m) => ({ source: group.parent_id, target: m.id, kind: "invoke", step_id: null })));
      out = { ...out, nodes: out.nodes.filter((n) => n.id !== id).concat(added), edges };
    }
    return groupLeaves(out);
  }

  // --- data: fetch, and live deltas ----------------------------------------------------------------------
  async function fetchGraph() {
    if (fetching) { again = true; return; }
    fetching = true;
    try {
      const url = T.url(`api/runs/${encodeURIComponent(config.run_id)}/graph?focus=${encodeURIComponent(config.run_id)}`);
      const data = await T.getJSON(url);
      graph = data;
      render(applyExpansions(data));
      if (!container.dataset.ready) {
        container.dataset.ready = "1";
        window.tributaryGraphMs = performance.now() - started;
        container.dataset.renderMs = String(Math.round(performance.now()));
      }
    } catch (e) {
      statusLine.textContent = `Could not load the graph (${e.message}); retrying when live.`;
    } finally {
      fetching = false;
      if (again) { again = false; scheduleRefetch(200); }
    }
  }

  function scheduleRefetch(delay) {
    if (refetchTimer) return;
    refetchTimer = setTimeout(() => { refetchTimer = null; fetchGraph(); }, delay);
  }

  function applyDelta(d) {
    if (d.id === config.run_id || d.parent_run_id === config.run_id) schedulePageRefresh();
    const n = nodes.get(d.id);
    if (!n) { scheduleRefetch(memberOf.has(d.id) ? 1000 : 300); return; }  // new run, or inside a group
    const known = Number(n.version || 0);
    if (d.version <= known) return;
    // A gap, a new failure path, or a failed run retried (its failure path is redrawn).
    if (d.version > known + 1 || d.status === S.FAILED || n.status === S.FAILED) { scheduleRefetch(300); }
    n.version = d.version;
    n.status = d.status;
    if (d.status === S.RUNNING && !n.started_at) n.started_at = new Date(d.ts).toISOString();
    if (TERMINAL.has(d.status)) n.ended_at = new Date(d.ts).toISOString();
    const el = cy && cy.getElementById(d.id);
    if (el && el.nonempty()) {
      el.classes(el.classes().filter((c) => !c.startsWith("s-")).concat(`s-${d.status}`));
      el.data({ status: d.status, label: label(n) });
    }
    const button = nodeList.querySelector(`button[data-node="${CSS.escape(d.id)}"]`);
    if (button) button.textContent = nodeText(n);
    if (graph) describe({ ...graph, nodes: [...nodes.values()] });
  }

  // --- the page's own sections (header, steps, details, root cause) follow this run ---------------------
  function schedulePageRefresh() {
    if (pageTimer) return;
    pageTimer = setTimeout(refreshPage, 300);
  }

  async function refreshPage() {
    pageTimer = null;
    let doc;
    try {
      const response = await fetch(location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (!response.ok) return;
      doc = new DOMParser().parseFromString(await response.text(), "text/html");
    } catch (e) { return; }
    const open = new Set([...document.querySelectorAll("details[open][id]")].map((d) => d.id));
    for (const id of ["run-head", "steps", "step-details", "run-io", "run-audit"]) {
      const fresh = doc.getElementById(id), old = document.getElementById(id);
      if (fresh && old) old.replaceWith(document.adoptNode(fresh));
    }
    for (const id of open) { const d = document.getElementById(id); if (d) d.open = true; }
    const freshCause = doc.getElementById("root-cause");
    const oldCause = document.getElementById("root-cause");
    if (freshCause) {
      if (oldCause) oldCause.replaceWith(document.adoptNode(freshCause));
      else document.querySelector(".run-grid").append(document.adoptNode(freshCause));
      document.querySelector(".run-grid").classList.add("has-cause");
      bindCausePanel();
    } else if (oldCause) {  // healed (a retry): no root cause any more
      oldCause.remove();
      document.querySelector(".run-grid").classList.remove("has-cause");
      if (cy) cy.resize();
    }
    const title = doc.querySelector("title");
    if (title) document.title = title.textContent;
    T.localizeTimes(document);
    if (T.enhanceJson) T.enhanceJson(document);
  }

  T.refreshRunPage = schedulePageRefresh;  // static/js/actions.js: after an action, show its audit entry

  T.live(`ws/graph/${encodeURIComponent(config.root_run_id)}/`, {
    onOpen: (reconnected) => { if (reconnected) { fetchGraph(); schedulePageRefresh(); } },
    onDeltas: (deltas) => deltas.forEach(applyDelta),
  });
  fetchGraph();
})();
