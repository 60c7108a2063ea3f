// tanium-sim console: plain JavaScript, no build step, nothing from another host.
// Every data call sends the admin token as `Authorization: Bearer`; the token lives in sessionStorage
// (this tab only) and never in a URL. The live journal is read with fetch() streaming, because an
// EventSource cannot send that header. Text from the server is always set with textContent.
"use strict";

(() => {
  const TOKEN_KEY = "tanium-sim.admin-token";
  const NOW_EVERY_MS = 1000;
  const NOW_AT_MOST_MS = 10000;
  const NOW_COST_SHARE = 50; // wait 50x what the last refresh took: counting a huge world costs the server ~2%
  const FAULTS_EVERY_MS = 2000;
  const SCENARIO_EVERY_MS = 5000;
  const JOURNAL_KEEP = 1000;
  const JOURNAL_SHOW = 200;
  const FLEET_PAGE = 50;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const COLOURS = ["#2b6cb0", "#38a169", "#d69e2e", "#805ad5", "#dd6b20", "#319795"];
  const RULE_TEMPLATE = JSON.stringify(
    { name: "console-503", match: { operation: "get_task" }, fault: { type: "status", status: 503 } }, null, 1);

  const $ = (id) => document.getElementById(id);
  let token = sessionStorage.getItem(TOKEN_KEY);
  let timers = [];
  let streamAbort = null;

  class ApiError extends Error {
    constructor(status, text) { super(text); this.status = status; }
  }

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "className") node.className = value;
      else if (key === "onclick") node.addEventListener("click", value);
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    return node;
  }

  async function api(path, options = {}) {
    const headers = { Authorization: "Bearer " + token, ...(options.headers || {}) };
    const response = await fetch(path, { ...options, headers, cache: "no-store" });
    if (response.status === 401) {
      signOut("The simulator refused the admin token (401). Enter it again.");
      throw new ApiError(401, "unauthorized");
    }
    if (!response.ok) {
      let text = response.status + " " + response.statusText;
      try { text = (await response.json()).text || text; } catch (e) { /* not JSON */ }
      throw new ApiError(response.status, text);
    }
    return response;
  }
  const getJSON = async (path) => (await api(path)).json();

  function fill(table, rows) {
    table.replaceChildren(...rows.map(([k, v]) => el("tr", null, el("td", { text: k }), el("td", { text: v }))));
  }

  function bytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return (i ? n.toFixed(1) : String(n)) + " " + units[i];
  }

  function statusClass(status) {
    return status === null || status === undefined ? "snone" : "s" + String(status)[0];
  }

  // --- sign in / out -----------------------------------------------------------------------------
  function signOut(message) {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    stop();
    $("app").hidden = true;
    $("forget-token").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("token-input").value = "";
    $("token-input").focus();
  }

  async function signIn(candidate) {
    const response = await fetch("/_sim/state", { headers: { Authorization: "Bearer " + candidate }, cache: "no-store" });
    if (!response.ok) {
      $("login-error").textContent = response.status === 401
        ? "The simulator refused this token (401)."
        : "The simulator answered " + response.status + ".";
      return;
    }
    token = candidate;
    sessionStorage.setItem(TOKEN_KEY, token);
    start();
  }

  function stop() {
    timers.forEach(clearInterval);
    timers = [];
    if (streamAbort) streamAbort.abort();
    streamAbort = null;
  }

  function every(ms, fn) {
    fn();
    timers.push(setInterval(fn, ms));
  }

  function start() {
    $("login").hidden = true;
    $("app").hidden = false;
    $("forget-token").hidden = false;
    $("login-error").textContent = "";
    refreshNowAdaptive();
    every(FAULTS_EVERY_MS, refreshFaults);
    every(SCENARIO_EVERY_MS, refreshScenario);
    loadScenarios();
    loadFleet();
    followJournal();
  }

  // --- now -----------------------------------------------------------------------------------------
  // The counts scan the whole store: on a world of 100,000 connections that is tens of milliseconds, so the
  // next refresh waits at least NOW_COST_SHARE times what this one took (every second on a usual world).
  let nowLoop = 0; // a new loop per start(): a refresh still in flight from before a sign-out ends its own
  function refreshNowAdaptive(loop = ++nowLoop) {
    const started = performance.now();
    refreshNow().finally(() => {
      if (!token || loop !== nowLoop) return;
      const wait = Math.min(NOW_AT_MOST_MS, Math.max(NOW_EVERY_MS, NOW_COST_SHARE * (performance.now() - started)));
      timers.push(setTimeout(() => refreshNowAdaptive(loop), wait));
    });
  }

  async function refreshNow() {
    try {
      const [state, stats] = await Promise.all([getJSON("/_sim/state"), getJSON("/_sim/stats")]);
      fill($("conn-counts"), Object.entries(state.connections));
      fill($("task-counts"), Object.entries(state.tasks));
      fill($("world-counts"), [
        ["evidence items", state.evidence],
        ["evidence bytes", bytes(stats.evidence_bytes)],
        ["evidence pending", state.evidence_pending],
        ["sessions", state.sessions],
        ["endpoints", state.endpoints],
        ["journal entries", stats.journal.enabled ? stats.journal.last_seq : "journal off"],
      ]);
      drawRates(stats);
    } catch (e) { if (e.status !== 401) console.warn("now:", e.message); }
  }

  function drawRates(stats) {
    const chart = $("rate-chart");
    const W = 640, H = 180, L = 36, B = 20, T = 8;
    const ops = Object.entries(stats.operations).sort((a, b) => b[1].total - a[1].total);
    const steps = Math.round(stats.window_s / stats.bucket_s);
    const shown = ops.slice(0, COLOURS.length);
    const errors = new Array(steps).fill(0);
    ops.forEach(([, row]) => row.errors.forEach((n, i) => { errors[i] += n; }));
    let peak = 0;
    shown.forEach(([, row]) => row.requests.forEach((n) => { peak = Math.max(peak, n); }));
    errors.forEach((n) => { peak = Math.max(peak, n); });
    const top = Math.max(1, peak) / stats.bucket_s;
    const x = (i) => L + (i + 0.5) * (W - L - 4) / steps;
    const y = (perS) => H - B - (perS / top) * (H - B - T);
    const nodes = [
      svg("line", { class: "axis", x1: L, y1: H - B, x2: W - 4, y2: H - B }),
      svg("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }),
    ];
    const label = (attrs, text) => { const t = svg("text", { class: "label", ...attrs }); t.textContent = text; return t; };
    nodes.push(label({ x: 2, y: T + 8 }, top.toFixed(top < 10 ? 1 : 0) + "/s"));
    nodes.push(label({ x: 2, y: H - B }, "0"));
    nodes.push(label({ x: L, y: H - 4 }, "-" + Math.round(stats.window_s / 60) + " min"));
    nodes.push(label({ x: W - 30, y: H - 4 }, "now"));
    const line = (series, colour, dashed) => svg("polyline", {
      fill: "none", stroke: colour, "stroke-width": 1.6, ...(dashed ? { "stroke-dasharray": "4 3" } : {}),
      points: series.map((n, i) => x(i).toFixed(1) + "," + y(n / stats.bucket_s).toFixed(1)).join(" "),
    });
    shown.forEach(([, row], i) => nodes.push(line(row.requests, COLOURS[i], false)));
    nodes.push(line(errors, "#c53030", true));
    chart.replaceChildren(...nodes);
    $("rate-window").textContent = "(last " + Math.round(stats.window_s / 60) + " min, " + stats.bucket_s + " s steps)";
    $("rate-legend").replaceChildren(
      ...shown.map(([op], i) => el("span", null, el("span", { className: "swatch c" + i }), op)),
      el("span", null, el("span", { className: "swatch cerr" }), "errors (all operations)"));
    const lastMin = Math.max(1, Math.round(60 / stats.bucket_s));
    $("rate-table").tBodies[0].replaceChildren(...ops.map(([op, row]) => {
      const recent = row.requests.slice(-lastMin).reduce((a, b) => a + b, 0);
      const rate = recent / (lastMin * stats.bucket_s);
      const errPct = row.total ? (100 * row.error_total / row.total).toFixed(1) + " %" : "-";
      return el("tr", null, el("td", { text: op }), el("td", { text: rate.toFixed(2) }),
        el("td", { className: row.error_total ? "s5" : "", text: errPct }), el("td", { text: row.total }));
    }));
    updateOperationFilter(ops.map(([op]) => op));
  }

  async function refreshScenario() {
    try {
      const scenario = await getJSON("/_sim/scenario");
      $("scenario-badge").textContent = "scenario " + scenario.name + " · seed " + scenario.seed;
      const clock = await getJSON("/_sim/clock");
      $("clock-badge").textContent = clock.mode + " clock · " + clock.iso;
    } catch (e) { if (e.status !== 401) console.warn("scenario:", e.message); }
  }

  // --- live journal --------------------------------------------------------------------------------
  const journal = { entries: [], cursor: null, paused: false, operations: new Set(), pending: false };

  function journalState(text, kind) {
    const badge = $("journal-state");
    badge.textContent = text;
    badge.className = "badge " + (kind || "muted");
  }

  async function followJournal() {
    const abort = new AbortController();
    streamAbort = abort;
    while (!abort.signal.aborted) {
      try {
        const query = journal.cursor === null ? "" : "?since=" + journal.cursor;
        const response = await api("/_sim/events" + query, {
          headers: { Accept: "text/event-stream" }, signal: abort.signal,
        });
        journalState("live", "live");
        await readEvents(response.body.getReader(), abort.signal);
      } catch (e) {
        if (abort.signal.aborted || e.status === 401) return;
        journalState("reconnecting", "down");
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  async function readEvents(reader, signal) {
    const decoder = new TextDecoder();
    let buffer = "";
    while (!signal.aborted) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        onEvent(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
      }
    }
  }

  function onEvent(block) {
    let kind = "message", data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith("event: ")) kind = line.slice(7);
      else if (line.startsWith("data: ")) data += line.slice(6);
    }
    if (kind === "hello") {
      const hello = JSON.parse(data);
      $("journal-note").textContent = hello.enabled
        ? "Newest first; the journal keeps the last " + hello.capacity + " requests."
        : "The journal is off (serve --no-journal): nothing to show.";
    } else if (kind === "skipped") {
      journal.skipped = (journal.skipped || 0) + JSON.parse(data).count;
      $("journal-note").textContent = "Busy: " + journal.skipped + " requests not streamed (the live journal " +
        "sends at most 500 a second, the newest first); GET /_sim/requests lists them while the journal holds them.";
    } else if (kind === "reset") {
      journal.entries = [];
      journal.cursor = JSON.parse(data).cursor;
      renderJournal();
    } else if (kind === "request") {
      const entry = JSON.parse(data);
      journal.cursor = entry.seq;
      journal.entries.push(entry);
      journal.operations.add(entry.operation);
      if (journal.entries.length > JOURNAL_KEEP) journal.entries.splice(0, journal.entries.length - JOURNAL_KEEP);
      if (!journal.pending) {
        journal.pending = true;
        requestAnimationFrame(() => { journal.pending = false; renderJournal(); });
      }
    }
  }

  function statusMatches(filter, status) {
    if (!filter) return true;
    if (filter === "error") return status === null || status >= 400;
    if (filter === "none") return status === null;
    if (/^[1-5]xx$/.test(filter)) return status !== null && String(status)[0] === filter[0];
    return String(status) === filter;
  }

  function renderJournal() {
    if (journal.paused) return;
    const op = $("filter-operation").value;
    const client = $("filter-client").value.trim();
    const status = $("filter-status").value.trim().toLowerCase();
    const rows = [];
    for (let i = journal.entries.length - 1; i >= 0 && rows.length < JOURNAL_SHOW; i -= 1) {
      const e = journal.entries[i];
      if (op && e.operation !== op) continue;
      if (client && !(e.client_id || "").includes(client)) continue;
      if (!statusMatches(status, e.status)) continue;
      rows.push(el("tr", { "data-seq": e.seq },
        el("td", { text: e.seq }),
        el("td", { className: "mono", text: new Date(e.at * 1000).toISOString().slice(11, 23) }),
        el("td", { text: e.method + " " + e.operation, title: e.path }),
        el("td", { className: statusClass(e.status), text: e.status === null ? "no answer" : e.status }),
        el("td", { text: e.delay_ms ? e.delay_ms.toFixed(0) + " ms" : "0 ms" }),
        el("td", { className: "mono" }, e.client_id ? el("a", { href: "#", onclick: (ev) => { ev.preventDefault(); openEndpoint(e.client_id); } }, e.client_id) : "-"),
        el("td", { className: e.fault ? "fault" : "", text: e.fault ? e.fault + " (" + e.fault_type + ")" : "" })));
    }
    $("journal-rows").replaceChildren(...rows);
    updateOperationFilter([...journal.operations]);
  }

  function updateOperationFilter(ops) {
    const select = $("filter-operation");
    const known = new Set([...select.options].map((o) => o.value));
    for (const op of ops) if (!known.has(op)) { select.append(el("option", { value: op, text: op })); known.add(op); }
  }

  // --- faults and scenarios ------------------------------------------------------------------------
  function message(text, ok) {
    const node = $("fault-message");
    node.textContent = text;
    node.className = "message " + (ok ? "ok" : "error");
  }

  function ruleBody(rule) {
    const body = { ...rule };
    delete body.matched;
    delete body.fired;
    return body;
  }

  async function refreshFaults() {
    try {
      const { faults } = await getJSON("/_sim/faults");
      $("fault-rows").replaceChildren(...faults.map((rule, index) => {
        const enabled = rule.enabled !== false;
        return el("tr", { className: enabled ? "" : "disabled", "data-rule": rule.name },
          el("td", { text: rule.name }),
          el("td", { className: "mono", text: JSON.stringify(rule.match || {}) }),
          el("td", { className: "mono", text: JSON.stringify(rule.fault) }),
          el("td", { text: rule.matched }),
          el("td", { className: "fired", text: rule.fired }),
          el("td", null,
            el("button", { type: "button", onclick: () => toggleRule(rule, index) }, enabled ? "Disable" : "Enable"), " ",
            el("button", { type: "button", className: "danger", onclick: () => removeRule(rule.name) }, "Remove")));
      }));
      if (!faults.length) $("fault-rows").replaceChildren(el("tr", null, el("td", { colspan: 6, className: "muted", text: "no fault rules" })));
    } catch (e) { if (e.status !== 401) console.warn("faults:", e.message); }
  }

  async function addRule(body, position) {
    const where = position === undefined ? "" : "?position=" + position;
    return api("/_sim/faults" + where, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
  }

  async function removeRule(name) {
    try {
      await api("/_sim/faults/" + encodeURIComponent(name), { method: "DELETE" });
      message("Removed rule " + name + ".", true);
    } catch (e) { message("Could not remove " + name + ": " + e.message, false); }
    refreshFaults();
  }

  // Rules have an `enabled` field: disabling is remove + add again at the same place, enabled false.
  async function toggleRule(rule, index) {
    const before = ruleBody(rule);
    const after = { ...before, enabled: rule.enabled === false };
    try {
      await api("/_sim/faults/" + encodeURIComponent(rule.name), { method: "DELETE" });
      try {
        await addRule(after, index);
      } catch (e) {
        await addRule(before, index);  // put it back as it was
        throw e;
      }
      message((after.enabled ? "Enabled " : "Disabled ") + rule.name + " (its counters start again).", true);
    } catch (e) { message("Could not change " + rule.name + ": " + e.message, false); }
    refreshFaults();
  }

  async function onRuleSubmit(event) {
    event.preventDefault();
    let body;
    try { body = JSON.parse($("rule-json").value); } catch (e) {
      message("The rule is not valid JSON: " + e.message, false);
      return;
    }
    try {
      const added = await (await addRule(body)).json();
      message("Added rule " + added.name + ".", true);
    } catch (e) { message("Refused: " + e.message, false); }
    refreshFaults();
  }

  async function loadScenarios() {
    try {
      const doc = await getJSON("/_sim/scenarios");
      const select = $("scenario-select");
      select.replaceChildren(...doc.scenarios.map((s) => el("option", { value: s.name, title: s.description, text: s.name })));
      select.value = doc.running;
      const describe = () => {
        const chosen = doc.scenarios.find((s) => s.name === select.value);
        $("scenario-description").textContent = chosen ? chosen.description : "";
      };
      select.onchange = describe;
      describe();
    } catch (e) { if (e.status !== 401) console.warn("scenarios:", e.message); }
  }

  async function onScenarioSubmit(event) {
    event.preventDefault();
    const name = $("scenario-select").value;
    try {
      await api("/_sim/scenario?name=" + encodeURIComponent(name), { method: "PUT" });
      message("Now running scenario " + name + ".", true);
    } catch (e) { message("Could not switch to " + name + ": " + e.message, false); }
    refreshScenario();
    refreshFaults();
  }

  // --- fleet and one endpoint -----------------------------------------------------------------------
  const fleet = { offset: 0, total: 0, q: "", timer: null };

  async function loadFleet() {
    const q = encodeURIComponent(fleet.q);
    try {
      const doc = await getJSON("/_sim/endpoints?limit=" + FLEET_PAGE + "&offset=" + fleet.offset + "&q=" + q);
      fleet.total = doc.total;
      $("fleet-total").textContent = doc.total ? (doc.offset + 1) + "–" + (doc.offset + doc.endpoints.length) + " of " + doc.total : "no match";
      $("fleet-rows").replaceChildren(...doc.endpoints.map((e) => el("tr", { className: "clickable", "data-client": e.clientId, onclick: () => openEndpoint(e.clientId) },
        el("td", { text: e.hostname }), el("td", { className: "mono", text: e.clientId }),
        el("td", { text: e.platform }), el("td", { text: e.profile }),
        el("td", { className: e.online ? "s2" : "s5", text: e.online ? "online" : "offline" }))));
    } catch (e) { if (e.status !== 401) console.warn("fleet:", e.message); }
  }

  function table(node, columns, rows) {
    node.replaceChildren(
      el("thead", null, el("tr", null, ...columns.map(([title]) => el("th", { text: title })))),
      el("tbody", null, ...(rows.length ? rows.map((row) => el("tr", null, ...columns.map(([, get]) => el("td", { text: get(row) ?? "" }))))
        : [el("tr", null, el("td", { colspan: columns.length, className: "muted", text: "none" }))])));
  }

  let shownEndpoint = null;

  async function openEndpoint(clientId) {
    shownEndpoint = clientId;
    $("endpoint").hidden = false;
    $("endpoint-title").textContent = clientId;
    try {
      const doc = await getJSON("/_sim/endpoints/" + encodeURIComponent(clientId) + "/history");
      const ep = doc.endpoint;
      $("endpoint-title").textContent = ep.hostname + " · " + ep.clientId + " · " + ep.platform + " · " + ep.profile + " · " + (ep.online ? "online" : "offline") + " · scan " + ep.scan;
      table($("endpoint-connections"), [["id", (c) => c.id], ["status", (c) => c.status], ["initiated", (c) => new Date(c.initiatedAt).toISOString()]], doc.connections);
      table($("endpoint-tasks"), [["id", (t) => t.id], ["status", (t) => t.status], ["created", (t) => t.createdAt], ["error", (t) => t.error || ""]], doc.tasks);
      table($("endpoint-evidence"), [["uuid", (e) => e.uuid], ["size", (e) => bytes(e.size)], ["visible", (e) => (e.visible ? "yes" : "not yet")]], doc.evidence);
      table($("endpoint-requests"), [["#", (r) => r.seq], ["operation", (r) => r.operation], ["status", (r) => r.status ?? "no answer"], ["fault", (r) => r.fault || ""]], doc.requests.slice().reverse());
      $("endpoint").scrollIntoView({ block: "start" });
      const manifest = await getJSON("/_sim/endpoints/" + encodeURIComponent(clientId) + "/manifest");
      if (shownEndpoint !== clientId) return;
      fill($("manifest-summary"), [["scan", manifest.scan], ["scan time", manifest.scan_time], ["records", manifest.record_count],
        ["size", bytes(manifest.size)], ["sha256", manifest.sha256.slice(0, 16) + "…"], ["path", manifest.path]]);
      fill($("manifest-types"), Object.entries(manifest.by_type || {}));
      fill($("manifest-findings"), Object.entries(manifest.findings || {}));
    } catch (e) { if (e.status !== 401) $("endpoint-title").textContent = clientId + ": " + e.message; }
  }

  async function downloadTrace() {
    if (!shownEndpoint) return;
    try {
      const response = await api("/_sim/endpoints/" + encodeURIComponent(shownEndpoint) + "/trace");
      const disposition = response.headers.get("Content-Disposition") || "";
      const name = (disposition.match(/filename="([^"]+)"/) || [])[1] || shownEndpoint + ".cst.gz";
      const url = URL.createObjectURL(await response.blob());
      const link = el("a", { href: url, download: name });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e) { $("endpoint-title").textContent = shownEndpoint + ": " + e.message; }
  }

  // The QA heatmap of `serve --qa-report FILE`: fetched with the token header, saved from a local blob
  // link (a plain link would carry no token; the report's inline style needs its own page, not a tab of
  // this one's policy).
  async function downloadQaReport(event) {
    event.preventDefault();
    const link = $("qa-report");
    try {
      const url = URL.createObjectURL(await (await api("/_sim/qa-report")).blob());
      const save = el("a", { href: url, download: "qa.html" });
      document.body.append(save);
      save.click();
      save.remove();
      link.title = "";
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e) { link.title = e.message; }
  }

  // --- wiring ----------------------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", (event) => { event.preventDefault(); signIn($("token-input").value.trim()); });
    $("forget-token").addEventListener("click", () => signOut(""));
    $("rule-json").value = RULE_TEMPLATE;
    $("rule-form").addEventListener("submit", onRuleSubmit);
    $("scenario-form").addEventListener("submit", onScenarioSubmit);
    $("journal-filters").addEventListener("submit", (event) => event.preventDefault());
    for (const id of ["filter-operation", "filter-client", "filter-status"]) $(id).addEventListener("input", renderJournal);
    $("journal-pause").addEventListener("click", () => {
      journal.paused = !journal.paused;
      $("journal-pause").textContent = journal.paused ? "Resume" : "Pause";
      renderJournal();
    });
    $("fleet-search").addEventListener("submit", (event) => event.preventDefault());
    $("fleet-q").addEventListener("input", () => {
      clearTimeout(fleet.timer);
      fleet.timer = setTimeout(() => { fleet.q = $("fleet-q").value.trim(); fleet.offset = 0; loadFleet(); }, 250);
    });
    $("fleet-prev").addEventListener("click", () => { fleet.offset = Math.max(0, fleet.offset - FLEET_PAGE); loadFleet(); });
    $("fleet-next").addEventListener("click", () => { if (fleet.offset + FLEET_PAGE < fleet.total) { fleet.offset += FLEET_PAGE; loadFleet(); } });
    $("endpoint-close").addEventListener("click", () => { $("endpoint").hidden = true; shownEndpoint = null; });
    $("trace-download").addEventListener("click", downloadTrace);
    $("qa-report").addEventListener("click", downloadQaReport);
    if (token) start(); else signOut("");
  });
})();
