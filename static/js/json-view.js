/* JSON viewer: every <pre class="json-view"> the server rendered (pretty JSON, escaped, readable without
 * scripts) becomes a tree that folds (each object and array is a <details>), highlights keys, strings, numbers,
 * booleans and null, and copies the whole value. Values only ever go into textContent. Very large values stay
 * plain text with the copy button: a tree of 100,000 nodes costs more than it shows. */
"use strict";
(function () {
  const MAX_CHARS = 200000;
  const OPEN_DEPTH = 2;  // deeper objects and arrays start folded

  function span(cls, text) {
    const el = document.createElement("span");
    el.className = cls;
    el.textContent = text;
    return el;
  }

  function scalar(value) {
    if (value === null) return span("j-null", "null");
    if (typeof value === "string") return span("j-str", JSON.stringify(value));
    if (typeof value === "number") return span("j-num", String(value));
    if (typeof value === "boolean") return span("j-bool", String(value));
    return span("j-str", JSON.stringify(value));
  }

  function keyPart(key) {
    const frag = document.createDocumentFragment();
    if (key !== null) frag.append(span("j-key", JSON.stringify(key)), span("j-punct", ": "));
    return frag;
  }

  /** One value as a line (scalars, empty containers) or a foldable block, with a trailing comma if not last. */
  function node(value, key, depth, last) {
    const comma = last ? "" : ",";
    const container = value !== null && typeof value === "object";
    const entries = container ? (Array.isArray(value) ? value.map((v, i) => [null, v, i]) : Object.entries(value).map(([k, v]) => [k, v])) : [];
    if (!container || entries.length === 0) {
      const line = document.createElement("div");
      line.className = "j-line";
      line.append(keyPart(key), container ? span("j-punct", Array.isArray(value) ? "[]" : "{}") : scalar(value), span("j-punct", comma));
      return line;
    }
    const [open, close] = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
    const block = document.createElement("details");
    block.className = "j-node";
    block.open = depth < OPEN_DEPTH;
    const summary = document.createElement("summary");
    const count = Array.isArray(value) ? `${entries.length} item${entries.length === 1 ? "" : "s"}` : `${entries.length} key${entries.length === 1 ? "" : "s"}`;
    summary.append(keyPart(key), span("j-punct", open), span("j-fold", ` ${count} ${close}${comma}`));
    const body = document.createElement("div");
    body.className = "j-children";
    entries.forEach(([k, v], i) => body.append(node(v, k, depth + 1, i === entries.length - 1)));
    const end = document.createElement("div");
    end.className = "j-line j-close";
    end.append(span("j-punct", close + comma));
    block.append(summary, body, end);
    return block;
  }

  function toolbar(text, tree) {
    const bar = document.createElement("div");
    bar.className = "j-tools";
    const copy = document.createElement("button");
    copy.type = "button";
    copy.className = "small j-copy";
    copy.textContent = "Copy";
    copy.addEventListener("click", () => {
      if (!navigator.clipboard) return;
      navigator.clipboard.writeText(text).then(() => {
        copy.textContent = "Copied";
        setTimeout(() => { copy.textContent = "Copy"; }, 1200);
      }, () => { copy.textContent = "Copy failed"; });
    });
    bar.append(copy);
    if (tree) {
      for (const [label, open] of [["Expand all", true], ["Collapse all", false]]) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = `small j-${open ? "expand" : "collapse"}`;
        button.textContent = label;
        button.addEventListener("click", () => {
          tree.querySelectorAll("details.j-node").forEach((d) => { d.open = open; });
          if (!open) { const top = tree.querySelector("details.j-node"); if (top) top.open = true; }
        });
        bar.append(button);
      }
    }
    return bar;
  }

  function enhance(pre) {
    if (pre.dataset.enhanced) return;
    pre.dataset.enhanced = "1";
    const text = pre.textContent;
    const wrap = document.createElement("div");
    wrap.className = "json-viewer";
    if (text.length > MAX_CHARS) {  // shown as it is, copy still works
      pre.replaceWith(wrap);
      wrap.append(toolbar(text, null), pre);
      return;
    }
    let value;
    try { value = JSON.parse(text); } catch (e) { return; }
    const tree = document.createElement("div");
    tree.className = "j-tree";
    tree.append(node(value, null, 0, true));
    pre.replaceWith(wrap);
    wrap.append(toolbar(text, tree), tree);
  }

  function enhanceAll(root) {
    (root || document).querySelectorAll("pre.json-view").forEach(enhance);
  }

  window.Tributary = Object.assign(window.Tributary || {}, { enhanceJson: enhanceAll });
  enhanceAll(document);
})();
