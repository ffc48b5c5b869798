// SPDX-License-Identifier: MIT
// usblab dashboard: the boards as cards grouped by hub, live from the
// daemon's event stream (/api/events/stream, Server-Sent Events read with
// fetch so that a bearer token can go with it), lease, power-cycle and
// bootloader buttons, each export's throughput (rates of /metrics'
// counters), and an event timeline. Plain JS, no libraries; served by
// usblabd itself.
"use strict";

const KINDS = ["arrived", "departed", "re-enumerated", "exported", "unexported", "imported",
  "released", "client-gone", "import-refused", "lease-taken", "lease-renewed",
  "lease-released", "lease-expired", "config-reloaded", "config-rejected", "error", "power",
  "probed", "attached", "devfiles", "server-gone", "board-reenumerated", "re-attached", "detached"];
const MAX_EVENTS = 300;
const METRICS_PERIOD_MS = 1000; // throughput: /metrics read this often

const ui = {
  boards: document.getElementById("boards"),
  events: document.getElementById("events"),
  filter: document.getElementById("filter"),
  kind: document.getElementById("kind"),
  conn: document.getElementById("conn"),
  summary: document.getElementById("summary"),
  toast: document.getElementById("toast"),
  tokenButton: document.getElementById("token-button"),
  tokenDialog: document.getElementById("token-dialog"),
  tokenInput: document.getElementById("token-input"),
};

let boards = [];
let boardsAt = Date.now(); // when boards[].lease.seconds_left was true
let refreshTimer = null;
let toastTimer = null;
const myHolders = new Set(JSON.parse(localStorage.getItem("usblab-holders") || "[]"));

function token() {
  return localStorage.getItem("usblab-token") || "";
}

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (token()) h.Authorization = "Bearer " + token();
  return h;
}

function showToast(text, kind) {
  ui.toast.textContent = text;
  ui.toast.dataset.kind = kind || "info";
  ui.toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { ui.toast.hidden = true; }, 5000);
}

function askToken() {
  ui.tokenInput.value = "";
  if (!ui.tokenDialog.open) ui.tokenDialog.showModal();
}

ui.tokenDialog.addEventListener("close", () => {
  if (ui.tokenDialog.returnValue === "ok" && ui.tokenInput.value) {
    localStorage.setItem("usblab-token", ui.tokenInput.value.trim());
    ui.tokenButton.hidden = false;
    refresh();
    restartStream();
  }
});
ui.tokenButton.addEventListener("click", askToken);

// One API call: resolves to the JSON body, or throws an Error whose .body
// is the daemon's {"error":{code,message}}.
async function api(path, init) {
  const r = await fetch(path, Object.assign({}, init, { headers: headers(init && init.headers) }));
  const body = await r.json();
  if (r.status === 401) askToken();
  if (!r.ok) {
    const e = new Error((body.error && body.error.message) || r.statusText);
    e.body = body;
    throw e;
  }
  return body;
}

function post(path, params) {
  return api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(params || {}),
  });
}

// ---- boards ---------------------------------------------------------------

// "1-4.2" -> hub "1-4", port "2"; "1-4" -> hub "bus 1", port "4".
function hubOf(b) {
  if (!b.port) return b.type === "virtual" || b.busid.startsWith("0-") ? "virtual devices" : "not placed yet";
  const dot = b.port.lastIndexOf(".");
  if (dot > 0) return "hub " + b.port.slice(0, dot);
  const dash = b.port.indexOf("-");
  return dash > 0 ? "bus " + b.port.slice(0, dash) : b.port;
}

function portOf(b) {
  if (!b.port) return b.busid;
  const dot = b.port.lastIndexOf(".");
  return "port " + (dot > 0 ? b.port.slice(dot + 1) : b.port.slice(b.port.indexOf("-") + 1));
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function timeLeft(b) {
  if (!b.lease) return "";
  const left = Math.max(0, b.lease.seconds_left - Math.floor((Date.now() - boardsAt) / 1000));
  const h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
  return h ? `${h}h ${m}m` : m ? `${m}m ${s}s` : `${s}s`;
}

function card(b) {
  const leased = !!b.lease;
  const c = el("article", { class: "board", "data-name": b.name, "data-state": b.state,
    "data-leased": String(leased) },
  el("div", { class: "top" }, el("span", { class: "name", textContent: b.name }),
    el("span", { class: "port", textContent: portOf(b) })),
  el("div", { class: "meta", textContent: [b.type, b.chip, `${b.vid}:${b.pid}`].filter(Boolean).join(" · ") }),
  el("div", {}, el("span", { class: "state", "data-state": b.state, textContent: b.state })));
  if (b.notes) c.append(el("div", { class: "meta", textContent: b.notes }));
  if (b.state === "imported" && b.imported_by)
    c.append(el("div", { class: "imported", textContent: "imported by " + b.imported_by }));
  if (b.state === "exported" || b.state === "imported") {
    const t = el("div", { class: "throughput" });
    showThroughput(t, rates.get(b.name));
    c.append(t);
  }
  if (leased) {
    c.append(el("div", { class: "lease" },
      "leased by ", el("span", { class: "holder", textContent: b.lease.holder }),
      ", ", el("span", { class: "left", textContent: timeLeft(b) }), " left",
      b.lease.reason ? " (" + b.lease.reason + ")" : ""));
  }
  const actions = el("div", { class: "actions" });
  if (!leased) {
    actions.append(el("button", { type: "button", class: "checkout", textContent: "Check out",
      onclick: () => checkout(b.name) }));
  } else {
    const mine = myHolders.has(b.lease.holder);
    actions.append(el("button", { type: "button", class: "checkin",
      textContent: mine ? "Check in" : "Force check in",
      onclick: () => checkin(b.name, !mine) }));
  }
  actions.append(el("button", { type: "button", class: "power-cycle", textContent: "Power cycle",
    title: "turn the board's port off and on again", onclick: () => powerCycle(b.name) }));
  if (isEsp32(b)) {
    actions.append(el("button", { type: "button", class: "bootloader", textContent: "Bootloader",
      title: "reset into the ROM bootloader", onclick: () => bootloader(b.name) }));
  }
  c.append(actions);
  return c;
}

function isEsp32(b) {
  return /^esp32/i.test(b.type) || /^esp32/i.test(b.chip);
}

function render() {
  const groups = new Map();
  for (const b of boards) {
    const g = hubOf(b);
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(b);
  }
  const out = [];
  for (const g of [...groups.keys()].sort()) {
    const list = groups.get(g).sort((a, b) => (a.port + a.busid).localeCompare(b.port + b.busid, undefined, { numeric: true }) || a.name.localeCompare(b.name));
    out.push(el("div", { class: "group", "data-group": g }, el("h3", { textContent: g }),
      el("div", { class: "cards" }, ...list.map(card))));
  }
  if (!out.length) out.push(el("p", { class: "empty", textContent: "No boards: add some to devices.conf, or start usblabd with --virtual." }));
  ui.boards.replaceChildren(...out);
  const count = (s) => boards.filter((b) => b.state === s).length;
  ui.summary.textContent = `${boards.length} boards · ${count("exported")} exported · ${count("imported")} imported · ${count("absent")} absent · ${boards.filter((b) => b.lease).length} leased`;
}

async function refresh() {
  try {
    const r = await api("/api/boards");
    boards = r.boards;
    boardsAt = Date.now();
    render();
  } catch (e) {
    showToast("boards: " + e.message, "error");
  }
}

function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, 50);
}

async function checkout(name) {
  try {
    const r = await post(`/api/boards/${encodeURIComponent(name)}/checkout`, { reason: "dashboard" });
    myHolders.add(r.holder);
    localStorage.setItem("usblab-holders", JSON.stringify([...myHolders]));
    showToast(`${r.name} is yours until ${r.expires} (import token ${r.token})`);
    refreshSoon();
  } catch (e) {
    showToast(e.message, "error");
  }
}

async function checkin(name, force) {
  if (force && !window.confirm(`${name} is leased by someone else. End their lease?`)) return;
  try {
    await post(`/api/boards/${encodeURIComponent(name)}/checkin`, force ? { force: true } : {});
    showToast(`${name} checked in`);
    refreshSoon();
  } catch (e) {
    showToast(e.message, "error");
  }
}

// A board verb that changes the hardware: asks first, then POSTs and says
// how it went (an error reply, e.g. unknown_method from a daemon built
// without the verb, is shown like any other).
async function boardVerb(name, verb, params, question, done) {
  if (!window.confirm(question)) return;
  try {
    await post(`/api/boards/${encodeURIComponent(name)}/${verb}`, params);
    showToast(done);
    refreshSoon();
  } catch (e) {
    showToast(`${name}: ${verb}: ${e.message}`, "error");
  }
}

function powerCycle(name) {
  return boardVerb(name, "power", { action: "cycle" },
    `Power-cycle ${name}? Its port is switched off and on again; whoever uses it loses it for a moment.`,
    `${name}: power cycled`);
}

function bootloader(name) {
  return boardVerb(name, "bootloader", {},
    `Reset ${name} into its ROM bootloader? Its application stops.`,
    `${name}: in its bootloader`);
}

// ---- throughput -------------------------------------------------------------

let rates = new Map(); // board -> {urbs: [out, in] per s, bytes: [out, in] per s}
let lastSample = null; // {at, urbs: Map(board -> [out, in]), bytes: Map}

function fmtRate(n, unit) {
  if (n >= 1e6) return (n / 1e6).toFixed(1) + " M" + unit;
  if (n >= 1e3) return (n / 1e3).toFixed(1) + " k" + unit;
  return Math.round(n) + " " + unit;
}

function showThroughput(t, r) {
  const urbs = r ? r.urbs[0] + r.urbs[1] : 0, bytes = r ? r.bytes[0] + r.bytes[1] : 0;
  t.dataset.urbsPerS = String(urbs);
  t.dataset.bytesPerS = String(bytes);
  t.textContent = r
    ? `${fmtRate(urbs, "URB/s")} · in ${fmtRate(r.bytes[1], "B/s")} · out ${fmtRate(r.bytes[0], "B/s")}`
    : "throughput: measuring…";
}

// usblab_export_{urbs,bytes}_total{board="…",busid="…",direction="…"} N
function parseCounters(text) {
  const out = { urbs: new Map(), bytes: new Map() };
  const re = /^usblab_export_(urbs|bytes)_total\{board="((?:[^"\\]|\\.)*)",busid="(?:[^"\\]|\\.)*",direction="(in|out)"\} (\d+(?:\.\d+)?(?:e\+?\d+)?)$/;
  for (const line of text.split("\n")) {
    const m = re.exec(line);
    if (!m) continue;
    const board = m[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
    const map = out[m[1]];
    if (!map.has(board)) map.set(board, [0, 0]);
    map.get(board)[m[3] === "in" ? 1 : 0] = Number(m[4]);
  }
  return out;
}

async function sampleThroughput() {
  // Hidden, or the daemon unreachable (the stream retries): no polling.
  if (document.hidden || ui.conn.dataset.state !== "live") {
    lastSample = null;
    return;
  }
  let text;
  try {
    const r = await fetch("/metrics", { headers: headers() });
    if (!r.ok) return; // 401 before the token is given: the API asks for it
    text = await r.text();
  } catch (e) {
    return; // the stream's state already says the daemon is unreachable
  }
  const now = performance.now(), s = parseCounters(text);
  if (lastSample) {
    const dt = (now - lastSample.at) / 1000, next = new Map();
    for (const [board, urbs] of s.urbs) {
      const pu = lastSample.urbs.get(board), pb = lastSample.bytes.get(board);
      const bytes = s.bytes.get(board) || [0, 0];
      if (!pu || !pb || dt <= 0) continue;
      // A counter that went back is a new export of the board: no rate yet.
      const rate = (a, b) => [0, 1].map((i) => Math.max(0, a[i] - b[i]) / dt);
      next.set(board, { urbs: rate(urbs, pu), bytes: rate(bytes, pb) });
    }
    rates = next;
    for (const c of ui.boards.querySelectorAll(".board")) {
      const t = c.querySelector(".throughput");
      if (t) showThroughput(t, rates.get(c.dataset.name));
    }
  }
  lastSample = { at: now, urbs: s.urbs, bytes: s.bytes };
}

// ---- events ---------------------------------------------------------------

function matches(li) {
  const f = ui.filter.value.trim().toLowerCase();
  const k = ui.kind.value;
  return (!k || li.dataset.kind === k) && (!f || li.textContent.toLowerCase().includes(f));
}

function addEvent(ev, atTop) {
  const li = el("li", { "data-kind": ev.kind, "data-board": ev.board, "data-seq": String(ev.seq) },
    el("span", { class: "time", textContent: ev.time.slice(11, 19) }), " ",
    el("span", { class: "kind", textContent: ev.kind }), " ",
    el("span", { class: "board-name", textContent: ev.board || "-" }),
    ev.peer ? " by " + ev.peer : "", ev.detail ? ": " + ev.detail : "");
  li.hidden = !matches(li);
  if (atTop) ui.events.prepend(li);
  else ui.events.append(li);
  while (ui.events.children.length > MAX_EVENTS) ui.events.lastChild.remove();
}

function applyFilter() {
  for (const li of ui.events.children) li.hidden = !matches(li);
}

async function loadHistory() {
  try {
    const st = await api("/api/status");
    if (!st.store) return;
    const r = await api("/api/events?limit=100");
    ui.events.replaceChildren();
    for (const ev of r.events.reverse()) addEvent(ev, false);
  } catch (e) {
    showToast("history: " + e.message, "error");
  }
}

function onEvent(ev) {
  addEvent(ev, true);
  refreshSoon();
}

// ---- the stream -----------------------------------------------------------

let streamAbort = null;

function setConn(state, text) {
  ui.conn.dataset.state = state;
  ui.conn.textContent = text;
}

// Reads the SSE stream; calls onEvent for each message; resolves when it ends.
async function readStream(signal) {
  const r = await fetch("/api/events/stream", { headers: headers(), signal });
  if (r.status === 401) {
    askToken();
    throw new Error("token needed");
  }
  if (!r.ok) throw new Error("stream: HTTP " + r.status);
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  let first = true;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true });
    if (first) {
      // Following: now the board list cannot miss an event.
      first = false;
      setConn("live", "live");
      refresh();
      loadHistory();
    }
    let end;
    while ((end = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
      if (data) onEvent(JSON.parse(data));
    }
  }
}

let streamGen = 0; // a newer stream() ends the older loop

async function stream() {
  const gen = ++streamGen;
  while (gen === streamGen) {
    streamAbort = new AbortController();
    try {
      await readStream(streamAbort.signal);
    } catch (e) {
      if (e.name === "AbortError") return;
    }
    if (gen !== streamGen) return;
    setConn("down", "reconnecting");
    await new Promise((res) => setTimeout(res, 2000));
  }
}

function restartStream() {
  if (streamAbort) streamAbort.abort();
  stream();
}

// ---- start ----------------------------------------------------------------

for (const k of KINDS) ui.kind.append(el("option", { value: k, textContent: k }));
ui.filter.addEventListener("input", applyFilter);
ui.kind.addEventListener("change", applyFilter);
if (token()) ui.tokenButton.hidden = false;
setInterval(() => {
  for (const c of ui.boards.querySelectorAll(".board[data-leased=true]")) {
    const b = boards.find((x) => x.name === c.dataset.name);
    const left = c.querySelector(".left");
    if (b && left) left.textContent = timeLeft(b);
  }
}, 1000);
setInterval(sampleThroughput, METRICS_PERIOD_MS);
sampleThroughput();
stream();
