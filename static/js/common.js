/* Shared by every page: relative times (the absolute moment, local or UTC, in the title), human durations, copy-on-click ids, and the
 * live socket with its header badge (live / reconnecting / offline / logged out, with a login link). Data is
 * only ever set with textContent. */
"use strict";
(function () {
  const pad = (n) => String(n).padStart(2, "0");

  // Handed over by base.html: the URL the dashboard is mounted at (e.g. "/tributary/") and whether the server
  // speaks websockets at all (not under WSGI).
  const configElement = document.getElementById("tributary-page-config");
  const pageConfig = configElement ? JSON.parse(configElement.textContent) : { base: "/", live: true };

  /** A dashboard URL from its path below the mount point: url("api/runs") is "/tributary/api/runs". */
  function url(path) {
    return pageConfig.base + String(path).replace(/^\/+/, "");
  }

  // --- times: relative in the text ("5 min ago"), the absolute moment on hover, in local time or UTC as the
  // operator chose with the header's switch (remembered in localStorage, so every page follows it). The hover
  // text always names the UTC moment too.
  const ZONE_KEY = "tributary.timezone";
  function zone() {
    try { return localStorage.getItem(ZONE_KEY) === "utc" ? "utc" : "local"; } catch (e) { return "local"; }
  }

  function setZone(value) {
    try { localStorage.setItem(ZONE_KEY, value === "utc" ? "utc" : "local"); } catch (e) { /* private mode */ }
    renderZoneSwitch();
    localizeTimes(document);
  }

  function stamp(date, utc) {
    const [y, mo, d, h, mi, s] = utc
      ? [date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()]
      : [date.getFullYear(), date.getMonth(), date.getDate(), date.getHours(), date.getMinutes(), date.getSeconds()];
    return `${y}-${pad(mo + 1)}-${pad(d)} ${pad(h)}:${pad(mi)}:${pad(s)}`;
  }

  /** The absolute moment in the chosen zone ("2026-12-05 09:30:00 UTC" or "2026-12-05 10:30:00"). */
  function formatTime(date) {
    return zone() === "utc" ? `${stamp(date, true)} UTC` : stamp(date, false);
  }

  function utcTitle(date) {
    const utc = `${stamp(date, true)} UTC`;
    if (zone() === "utc") return utc;
    const offset = -date.getTimezoneOffset();
    const sign = offset >= 0 ? "+" : "-";
    const local = `${stamp(date, false)} local (UTC${sign}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)})`;
    return `${local} · ${utc}`;
  }

  /** "just now", "42 s ago", "5 min ago", "3 h ago", "2 d ago"; a future moment "in 5 min". */
  function relativeTime(date, now) {
    const ms = (now ?? Date.now()) - date.getTime();
    const ahead = ms < 0, s = Math.abs(ms) / 1000;
    if (s < 5) return "just now";
    let text;
    if (s < 60) text = `${Math.floor(s)} s`;
    else if (s < 3600) text = `${Math.floor(s / 60)} min`;
    else if (s < 86400 * 2) text = `${Math.floor(s / 3600)} h`;
    else text = `${Math.floor(s / 86400)} d`;
    return ahead ? `in ${text}` : `${text} ago`;
  }

  function showTime(el, date) {
    el.title = utcTitle(date);
    el.textContent = relativeTime(date);
  }

  function humanMs(ms) {
    if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
    if (ms < 1) return "<1 ms";
    if (ms < 1000) return `${Math.round(ms)} ms`;
    const s = ms / 1000;
    if (s < 10) return `${s.toFixed(1)} s`;
    if (s < 60) return `${Math.round(s)} s`;
    const m = s / 60;
    if (m < 60) return m >= 10 ? `${Math.round(m)} min` : `${m.toFixed(1)} min`;
    const h = m / 60;
    return h < 48 ? `${h.toFixed(1)} h` : `${(h / 24).toFixed(1)} d`;
  }

  /** A <time> element showing how long ago, with the absolute moment on hover. */
  function timeElement(value) {
    const el = document.createElement("time");
    const date = value instanceof Date ? value : new Date(value);
    if (Number.isNaN(date.getTime())) { el.textContent = "—"; return el; }
    el.dateTime = date.toISOString();
    showTime(el, date);
    return el;
  }

  function localizeTimes(root) {
    for (const el of (root || document).querySelectorAll("time[datetime]")) {
      const date = new Date(el.getAttribute("datetime"));
      if (Number.isNaN(date.getTime())) continue;
      showTime(el, date);
    }
    for (const el of (root || document).querySelectorAll(".js-took[data-start]")) {
      const start = Date.parse(el.dataset.start), end = Date.parse(el.dataset.end);
      el.textContent = Number.isNaN(start) || Number.isNaN(end) ? "" : humanMs(end - start);
    }
  }

  /** The header's switch (base.html): which zone absolute times are shown in. */
  function renderZoneSwitch() {
    const button = document.getElementById("zone-switch");
    if (!button) return;
    const utc = zone() === "utc";
    button.textContent = utc ? "UTC" : "local time";
    button.setAttribute("aria-pressed", utc ? "true" : "false");
    button.title = utc ? "Times on hover are in UTC; click for local time" : "Times on hover are in local time; click for UTC";
  }

  function setupZoneSwitch() {
    const button = document.getElementById("zone-switch");
    if (!button) return;
    button.hidden = false;
    button.addEventListener("click", () => setZone(zone() === "utc" ? "local" : "utc"));
    renderZoneSwitch();
    // Another tab switched: follow it.
    window.addEventListener("storage", (event) => { if (event.key === ZONE_KEY) { renderZoneSwitch(); localizeTimes(document); } });
  }

  let ticks = 0;
  function tick() {
    const now = Date.now();
    ticks += 1;
    if (ticks % 5 === 0) {  // "5 min ago" moves on
      for (const el of document.querySelectorAll("time[datetime]")) {
        const date = new Date(el.getAttribute("datetime"));
        if (!Number.isNaN(date.getTime())) el.textContent = relativeTime(date, now);
      }
    }
    for (const el of document.querySelectorAll(".ticking[data-since]")) {
      const since = Date.parse(el.dataset.since);
      if (!Number.isNaN(since)) el.textContent = `${humanMs(now - since)}…`;
    }
  }

  // Status and action names come from the server (runs/status.py, one json_script block in base.html), so no
  // script spells them again: vocab.RunStatus.FAILED, vocab.RetryMode.ROOT_CAUSE, vocab.status_labels, ...
  const vocab = JSON.parse(document.getElementById("tributary-vocabulary").textContent);
  const STATUS_LABELS = vocab.status_labels;

  /** The same badge as the server's {% status_badge %}: a shape per status and a text label. */
  function badge(status) {
    const span = document.createElement("span");
    span.className = `badge s-${status}`;
    span.dataset.status = status;
    const icon = document.createElement("i");
    icon.setAttribute("aria-hidden", "true");
    span.append(icon, STATUS_LABELS[status] || status);
    return span;
  }

  function setBadge(el, status) {
    if (!el) return;
    el.replaceWith(badge(status));
  }

  // --- the live socket -------------------------------------------------------------------------------------
  const sockets = new Set();

  function renderBadge() {
    const el = document.getElementById("live-badge");
    if (!el) return;
    el.hidden = sockets.size === 0;  // a page without a socket is a snapshot: it claims nothing about being live
    let state = "offline";
    if (sockets.size) {
      const states = [...sockets].map((s) => s.state);
      state = states.includes("loggedout") ? "loggedout"
        : states.every((s) => s === "live") ? "live" : (states.includes("closed") ? "offline" : "reconnecting");
    }
    el.className = `live ${state}`;
    el.querySelector(".live-text").textContent = state === "loggedout" ? "logged out" : state;
    const login = el.querySelector(".live-login");  // rendered by base.html, with ?next= this page
    if (login) login.hidden = state !== "loggedout";
    el.title = state === "live" ? "Live: changes appear as they happen"
      : state === "reconnecting" ? "Reconnecting: changes will be caught up when the connection is back"
        : state === "loggedout" ? "Logged out: log in again to see live updates"
          : pageConfig.live ? "Offline: this page does not update by itself"
            : "Not live: this server has no websockets (live updates need the ASGI application); reload to update";
  }

  /**
   * A websocket (path below the mount point, e.g. "ws/runs/") that reconnects by itself (backoff up to 10 s). handlers.onOpen(isReconnect) runs on each
   * "hello" (a reconnect is the moment to resync over HTTP); handlers.onDeltas(list) for each batch.
   */
  function live(path, handlers) {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const conn = { state: "reconnecting", ws: null, opened: false, attempt: 0 };
    sockets.add(conn);
    if (!pageConfig.live) { conn.state = "closed"; renderBadge(); return conn; }
    function connect() {
      let ws;
      try { ws = new WebSocket(`${proto}//${location.host}${url(path)}`); } catch (e) { retry(); return; }
      conn.ws = ws;
      ws.onmessage = (msg) => {
        let data;
        try { data = JSON.parse(msg.data); } catch (e) { return; }
        if (data.type === "hello") {
          const again = conn.opened;
          conn.opened = true; conn.attempt = 0; conn.state = "live"; renderBadge();
          if (handlers.onOpen) handlers.onOpen(again);
        } else if (data.type === "deltas" && handlers.onDeltas) {
          handlers.onDeltas(data.deltas || []);
        }
      };
      ws.onclose = (event) => {
        // 4401: anonymous, or the session ended (logged out, here or in another tab); 4404: no such socket;
        // 4503: the server has no channel layer to listen to. Reconnecting would not help either: stop.
        if (event.code === 4401) { conn.state = "loggedout"; renderBadge(); return; }
        if (event.code === 4404 || event.code === 4503) { conn.state = "closed"; renderBadge(); return; }
        retry();
      };
    }
    function retry() {
      conn.state = conn.attempt > 5 ? "closed" : "reconnecting";
      renderBadge();
      const delay = Math.min(10000, 500 * 2 ** conn.attempt) * (0.75 + Math.random() * 0.5);
      conn.attempt += 1;
      setTimeout(connect, delay);
    }
    renderBadge();
    connect();
    return conn;
  }

  async function getJSON(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.json();
  }

  function setupCopy() {
    document.addEventListener("click", (event) => {
      const el = event.target.closest("code.copy");
      if (!el || !navigator.clipboard) return;
      navigator.clipboard.writeText(el.textContent.trim()).then(() => {
        el.classList.add("copied");
        setTimeout(() => el.classList.remove("copied"), 900);
      }, () => {});
    });
  }

  window.Tributary = { url, formatTime, relativeTime, humanMs, timeElement, localizeTimes, badge, setBadge, live,
    getJSON, vocab, zone, setZone };
  setupZoneSwitch();
  localizeTimes(document);
  setupCopy();
  setInterval(tick, 1000);
})();
