// The ETL Control Center (seeds 000 and 003): connectivity, automatic and manual ETL with the
// gaps table and the live log, the execution history with its detail, and the statistics.
// Plain DOM, no framework: every element is built with `h()`, which never parses HTML, so
// nothing the server returns (store names, error messages) can become markup.

import * as api from "./api.js";
import { LANGUAGES, lang, setLang, t, tv, translatePage } from "./i18n.js";
import * as fmt from "./format.js";

const $ = (sel) => document.querySelector(sel);

// ---------------------------------------------------------------------------------------------
// DOM helpers

function h(tag, attrs = {}, ...children) {
  const svg = tag.startsWith("svg:");
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.setAttribute("class", v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

function toast(message) {
  const el = $("#toast");
  el.textContent = message;
  el.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => el.classList.remove("show"), 5000);
}

// ---------------------------------------------------------------------------------------------
// Errors: 401 signs out, 403 explains the role, an unreachable server gets a banner and retries.

let unreachable = false;

function showBanner(text, { retry = false, kind = "error" } = {}) {
  const b = $("#banner");
  b.dataset.kind = kind;
  $("#banner-text").textContent = text;
  $("#banner-retry").hidden = !retry;
  b.hidden = false;
}

function hideBanner() {
  $("#banner").hidden = true;
}

function handleError(e, context) {
  if (!(e instanceof api.ApiError)) {
    console.error(context, e);
    showBanner(t("err_generic", { message: e && e.message ? e.message : String(e) }));
    return;
  }
  if ((e.kind === "auth" || e.kind === "forbidden") && e.tokenUsed !== api.token()) {
    return; // answered for a token that has been replaced since
  }
  if (e.kind === "auth") {
    api.setToken(null);
    stopTimers();
    showSignin();
    showBanner(t("err_401"));
  } else if (e.kind === "forbidden") {
    showBanner(t("err_403"));
  } else if (e.kind === "unreachable") {
    if (!unreachable) {
      unreachable = true;
      showBanner(t("err_unreachable"), { retry: true, kind: "offline" });
      waitForServer();
    }
  } else {
    showBanner(t("err_server", { status: e.status, message: e.message || "" }));
  }
}

/** Retries quietly every few seconds until the server answers again, then reloads the data. */
function waitForServer() {
  clearTimeout(waitForServer.timer);
  waitForServer.timer = setTimeout(async () => {
    try {
      await api.get(api.PATHS.ventasStatus);
      unreachable = false;
      hideBanner();
      refreshAll();
    } catch (e) {
      if (e instanceof api.ApiError && e.kind === "unreachable") waitForServer();
      else {
        unreachable = false;
        handleError(e);
      }
    }
  }, 3000);
}

/** Runs `fn`, routing its failure to the banner. Returns its result or undefined. */
async function guarded(context, fn) {
  try {
    const r = await fn();
    if (unreachable) {
      unreachable = false;
      hideBanner();
    }
    return r;
  } catch (e) {
    handleError(e, context);
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Badges: colour plus an icon and a word, so colour is never the only signal.

const STATUS_ICON = { success: "✓", partial: "◐", failed: "✗", running: "●", skipped: "–", interrupted: "■" };

function statusBadge(status) {
  const s = String(status || "").toLowerCase();
  return h("span", { class: `badge status-${s}`, dataset: { status: s } },
    h("span", { class: "badge-icon", "aria-hidden": "true" }, STATUS_ICON[s] || "•"),
    tv("status", s));
}

const PHASE_ICON = { extract: "⤓", transform: "⟳", load: "⤒" };

function phaseLabel(phase, category) {
  if (!phase && !category) return h("span", { class: "muted" }, t("none"));
  return h("span", { class: "error-cell" },
    phase ? h("span", { class: "phase" }, h("span", { "aria-hidden": "true" }, `${PHASE_ICON[phase] || "!"} `), tv("phase", phase)) : null,
    category ? h("code", { class: "category" }, category) : null);
}

function originBadge(origin) {
  return h("span", { class: `badge origin origin-${origin}` }, tv("origin", origin));
}

/** The gaps badge (`estado`: al_dia / actualizar / critico) as ok / behind / critical. */
function gapLevel(store) {
  return { al_dia: "ok", actualizar: "behind", critico: "critical" }[store.estado] || "behind";
}

const LEVEL_ICON = { ok: "✓", behind: "!", critical: "✗" };

function gapBadge(store) {
  const level = gapLevel(store);
  const days = store.dias_atraso ?? undefined;
  return h("span", { class: `badge level-${level}`, title: days === undefined ? undefined : t("days_long", { n: days }) },
    h("span", { class: "badge-icon", "aria-hidden": "true" }, LEVEL_ICON[level]),
    `${t(`badge_${level}`)}${days === undefined ? "" : ` · ${t("days_n", { n: days })}`}`);
}

// ---------------------------------------------------------------------------------------------
// Sign-in

function showSignin() {
  $("#main").hidden = true;
  $("#signin").hidden = false;
  $("#signout").hidden = true;
  $("#session-state").hidden = true;
  $("#token-input").focus();
}

function showApp() {
  $("#signin").hidden = true;
  $("#main").hidden = false;
  $("#signout").hidden = false;
  $("#session-state").hidden = false;
}

// ---------------------------------------------------------------------------------------------
// Connectivity: per store, the reachability of its source and the connect latency.

const state = {
  scheduler: null,
  gaps: [],
  connectivity: null,
  historyOffset: 0,
  historyLimit: 50,
  historyRows: [],
  stats: null,
  logCursor: 0,
  logCount: 0,
  logExecution: null,
  logMode: "polling",
  logAbort: null,
  running: false,
};

/**
 * Each store's source dialled right now (`GET /api/etl/connectivity`: a timed TCP connect to the
 * KLK API or the Stellar database, the failure classified). A server without that endpoint (an
 * older one: 404) gets the executions' per-store network diagnostics instead: each store's latest
 * contact, from the newest finished executions until every store is covered (at most 8 read).
 */
async function loadConnectivity() {
  const button = $("#conn-refresh");
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  $("#conn-note").textContent = t("conn_checking");
  try {
    await guarded("connectivity", async () => {
      let report;
      try {
        report = await api.get(api.PATHS.connectivity);
      } catch (e) {
        if (!(e instanceof api.ApiError && e.kind === "http" && e.status === 404)) throw e;
        report = null;
      }
      state.connectivity = report ? liveConnectivity(report) : await recordedConnectivity();
      renderConnectivity();
    });
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

function liveConnectivity(report) {
  const stores = (report.tiendas || []).map((s) => ({
    tienda_id: s.tienda_id,
    tienda_nombre: s.tienda_nombre,
    source_system: s.source_system,
    reach: s.reachable ? "reachable" : "unreachable",
    address: `${s.host}:${s.port}${s.ip && s.ip !== s.host ? ` (${s.ip})` : ""}`,
    via_vpn: s.via_vpn,
    latency_ms: s.latency_ms,
    error_category: s.error_category,
    error: s.error,
  }));
  return { live: true, checkedAt: report.checked_at, stores, any: stores.length > 0 };
}

async function recordedConnectivity() {
  const rows = await api.get(api.PATHS.history + api.query({ limit: 20 }));
  const wanted = new Set(state.gaps.map((g) => g.ubicacion_id));
  const seen = new Map();
  let reads = 0;
  for (const row of rows || []) {
    if (row.status === "running") continue;
    if (reads >= 8 || (wanted.size && [...wanted].every((id) => seen.has(id)))) break;
    reads += 1;
    const detail = await api.get(api.path(api.PATHS.historyDetail, { id: row.id }));
    for (const s of (detail && detail.tiendas_detail) || []) {
      // Only a real attempt says something about the link: a store skipped (its lease was
      // held by another run) or closed before connecting leaves the older contact standing.
      const contacted = s.server_ip || s.connection_latency_ms != null || (s.status === "failed" && s.error_category);
      if (!contacted || seen.has(s.tienda_id)) continue;
      seen.set(s.tienda_id, {
        tienda_id: s.tienda_id,
        tienda_nombre: s.tienda_nombre,
        source_system: s.source_system,
        reach: reachabilityOf(s),
        address: s.server_ip ? `${s.server_ip}${s.server_port ? `:${s.server_port}` : ""}` : null,
        latency_ms: s.connection_latency_ms,
        error_category: s.error_category,
        execution_id: detail.id,
        checked_at: s.finished_at || detail.finished_at || detail.started_at,
      });
    }
  }
  const stores = state.gaps.map((g) => seen.get(g.ubicacion_id)
    || { tienda_id: g.ubicacion_id, tienda_nombre: g.ubicacion_nombre, source_system: g.sistema, reach: "unknown" });
  for (const [id, s] of seen) if (!wanted.has(id)) stores.push(s);
  return { live: false, checkedAt: new Date().toISOString(), stores, any: seen.size > 0 };
}

function reachabilityOf(store) {
  const category = String(store.error_category || "");
  if (/vpn_unreachable|vpn_timeout|db_connection|network_error|api_timeout/.test(category)) return "unreachable";
  if (store.connection_latency_ms !== null && store.connection_latency_ms !== undefined) return "reachable";
  if (store.status === "success") return "reachable";
  return "unknown";
}

function renderConnectivity() {
  const c = state.connectivity;
  if (!c) return;
  $("#conn-note").textContent = c.live
    ? t("conn_live", { when: fmt.dateTime(c.checkedAt) })
    : c.any ? t("conn_checked", { when: fmt.dateTime(c.checkedAt) }) : t("conn_no_data");
  const counts = { reachable: 0, unreachable: 0, unknown: 0 };
  fill($("#conn-list"), c.stores.map((s) => {
    const r = s.reach;
    counts[r] += 1;
    const system = String(s.source_system || "").toLowerCase();
    return h("li", { class: `conn conn-${r}`, dataset: { store: s.tienda_id, reach: r } },
      h("span", { class: "conn-name" }, s.tienda_nombre || s.tienda_id),
      h("span", { class: "muted small" },
        `${s.tienda_id} · ${system === "stellar" ? "Stellar DB" : system === "klk" ? "KLK API" : system || t("none")}`,
        s.via_vpn ? ` · ${t("via_vpn")}` : ""),
      h("span", { class: `badge reach-${r}` },
        h("span", { class: "badge-icon", "aria-hidden": "true" }, r === "reachable" ? "✓" : r === "unreachable" ? "✗" : "?"),
        t(r), r === "unreachable" && s.error_category ? ` (${s.error_category})` : "",
        s.latency_ms != null ? ` · ${fmt.millis(s.latency_ms)}` : ""),
      s.address ? h("code", { class: "small" }, s.address) : null,
      r === "unreachable" && s.error ? h("span", { class: "small error-msg" }, s.error) : null,
      c.live ? null : s.execution_id
        ? h("button", { type: "button", class: "link small", "aria-label": `${t("conn_seen")}: ${fmt.dateTime(s.checked_at)} — ${t("view_execution", { id: s.execution_id })}`, onclick: (e) => openDetail(s.execution_id, e.currentTarget) },
          `#${s.execution_id} · ${fmt.shortDateTime(s.checked_at)}`)
        : h("span", { class: "muted small" }, `${t("conn_seen")}: ${t("never")}`));
  }));
  $("#conn-summary").textContent = c.live ? t("conn_counts_live", counts) : t("conn_counts", counts);
}

// ---------------------------------------------------------------------------------------------
// Automatic ETL

async function loadScheduler() {
  let s;
  try {
    s = await api.get(api.PATHS.schedulerStatus);
  } catch (e) {
    if (e instanceof api.ApiError && e.kind === "http" && e.status === 503) {
      // This server runs no scheduler: say so in the panel, not as an error banner.
      state.scheduler = { unavailable: e.message || true };
      renderScheduler();
      return;
    }
    handleError(e, "scheduler");
    return;
  }
  if (unreachable) {
    unreachable = false;
    hideBanner();
  }
  state.scheduler = s;
  renderScheduler();
}

function renderScheduler() {
  const s = state.scheduler;
  if (!s) return;
  const off = Boolean(s.unavailable);
  $("#auto-unavailable").hidden = !off;
  $("#auto-toggle").disabled = off;
  $("#auto-run").disabled = off;
  $("#config-form").hidden = off;
  if (off) {
    $("#auto-unavailable").textContent = t("scheduler_unavailable");
    for (const id of ["#auto-next", "#auto-last", "#auto-retries", "#auto-state"]) $(id).textContent = t("none");
    $("#auto-toggle-text").textContent = t("none");
    $("#auto-summary").hidden = true;
    $("#auto-summary-title").textContent = "";
    return;
  }
  const enabled = Boolean(s.enabled);
  const running = Boolean(s.is_running);
  const toggle = $("#auto-toggle");
  toggle.setAttribute("aria-pressed", String(enabled));
  toggle.dataset.enabled = String(enabled);
  $("#auto-toggle-text").textContent = enabled ? t("enabled") : t("disabled");
  toggle.title = enabled ? t("toggle_disable") : t("toggle_enable");
  const cfg = s.config || {};
  const at = cfg.execution_hour === undefined ? "" : `${String(cfg.execution_hour).padStart(2, "0")}:${String(cfg.execution_minute ?? 0).padStart(2, "0")}`;
  fill($("#auto-next"), enabled ? fmt.dateTime(s.next_run) : t("disabled"),
    at ? h("span", { class: "muted small block" }, t("schedule_at", { time: at, tz: cfg.time_zone || "" })) : null);
  const last = s.last_run;
  fill($("#auto-last"), last ? fmt.dateTime(last.started_at) : t("never"),
    last ? h("span", { class: "block" }, statusBadge(last.status)) : null);
  const pending = s.pending_stores || [];
  fill($("#auto-retries"), t("stores_n", { n: s.pending_retries ?? pending.length }),
    pending.length ? h("span", { class: "muted small block" }, pending.join(", ")) : null,
    s.next_retry_at ? h("span", { class: "muted small block" }, t("next_retry", { when: fmt.dateTime(s.next_retry_at) })) : null);
  fill($("#auto-state"), h("span", { class: `badge ${running ? "status-running" : "idle"}` },
    h("span", { class: "badge-icon", "aria-hidden": "true" }, running ? "●" : "○"), running ? t("running") : t("idle")));
  const sum = s.daily_summary;
  if (sum) {
    $("#auto-summary-title").textContent = t("last_summary", { date: fmt.day(sum.day) });
    $("#sum-total").textContent = fmt.number(sum.total);
    $("#sum-ok").textContent = fmt.number(sum.ok);
    $("#sum-failed").textContent = fmt.number(sum.failed);
    $("#auto-summary").hidden = false;
  } else {
    $("#auto-summary-title").textContent = t("no_summary");
    $("#auto-summary").hidden = true;
  }
  // The settings form shows the effective values unless the operator is editing it.
  const form = $("#config-form");
  if (!form.contains(document.activeElement)) {
    for (const k of ["execution_hour", "execution_minute", "max_retries", "retry_interval_minutes"]) {
      if (cfg[k] !== undefined) form.elements[k].value = cfg[k];
    }
  }
}

async function saveConfig(ev) {
  ev.preventDefault();
  const form = $("#config-form");
  const msg = $("#config-message");
  const body = {};
  for (const k of ["execution_hour", "execution_minute", "max_retries", "retry_interval_minutes"]) {
    const v = form.elements[k].value.trim();
    if (v === "" || !/^\d+$/.test(v)) {
      msg.textContent = t("config_invalid", { field: form.elements[k].labels[0]?.textContent || k });
      msg.dataset.kind = "error";
      form.elements[k].focus();
      return;
    }
    body[k] = Number(v);
  }
  try {
    await api.put(api.PATHS.schedulerConfig, body);
    msg.textContent = t("config_saved");
    msg.dataset.kind = "ok";
    loadScheduler();
  } catch (e) {
    if (e instanceof api.ApiError && e.kind === "http") {
      msg.textContent = t("err_server", { status: e.status, message: e.message });
      msg.dataset.kind = "error";
    } else {
      handleError(e, "config");
    }
  }
}

async function toggleScheduler() {
  const enabled = $("#auto-toggle").dataset.enabled === "true";
  const btn = $("#auto-toggle");
  btn.disabled = true;
  await guarded("toggle", () => api.post(enabled ? api.PATHS.schedulerDisable : api.PATHS.schedulerEnable));
  btn.disabled = false;
  await loadScheduler();
}

async function triggerScheduler() {
  const btn = $("#auto-run");
  btn.disabled = true;
  const r = await guarded("trigger", () => api.post(api.PATHS.schedulerTrigger));
  btn.disabled = false;
  if (r !== undefined) {
    const id = r && r.execution_id;
    toast(id ? t("triggered", { id }) : t("triggered_no_id"));
    if (id) followLogs(id);
    loadScheduler();
  }
}

// ---------------------------------------------------------------------------------------------
// Manual ETL: counts, gaps table, run form

async function loadGaps() {
  const g = await guarded("gaps", () => api.get(api.PATHS.gaps));
  if (g === undefined) return;
  state.gaps = (g && g.tiendas) || [];
  state.gapsSummary = (g && g.resumen) || null;
  renderGaps();
  if (state.connectivity) renderConnectivity();
}

function hasHistoricGaps(store) {
  return Boolean(store.tiene_gaps_historicos);
}

/**
 * The dates the *Update* and *Recover* buttons put in the form: *update* is the day after the
 * last one with data through yesterday; *recover* spans the historic missing ranges, oldest
 * start to newest end (seed 000: "inicio=2024-09-01, fin=última_fecha").
 */
function recommendation(store, which) {
  const recs = store.recomendaciones || {};
  if (which === "update") {
    const r = recs.actualizar;
    return r ? { from: fmt.day(r.fecha_inicio), to: fmt.day(r.fecha_fin) } : null;
  }
  const ranges = Array.isArray(recs.recuperar) ? recs.recuperar : [];
  if (!ranges.length) return null;
  const from = ranges.map((r) => fmt.day(r.fecha_inicio)).sort()[0];
  const to = ranges.map((r) => fmt.day(r.fecha_fin)).sort().at(-1);
  return { from, to };
}

function renderGaps() {
  const stores = state.gaps;
  const summary = state.gapsSummary || {};
  $("#count-stores").textContent = fmt.number(summary.total_tiendas ?? stores.length);
  $("#count-behind").textContent = fmt.number(summary.desactualizadas ?? stores.filter((s) => gapLevel(s) !== "ok").length);
  $("#count-gaps").textContent = fmt.number(summary.con_gaps_historicos ?? stores.filter(hasHistoricGaps).length);

  fill($("#gaps-table tbody"), stores.map((s) => {
    const id = s.ubicacion_id;
    const name = s.ubicacion_nombre || id;
    const ranges = s.dias_faltantes || [];
    const update = recommendation(s, "update");
    const recover = recommendation(s, "recover");
    const level = gapLevel(s);
    const failures = (s.fallos_por_recuperar || []).length;
    return h("tr", { class: `level-row-${level}`, dataset: { store: id } },
      h("th", { scope: "row" }, name, h("span", { class: "muted small block" }, `${id} · ${String(s.sistema || "").toUpperCase()}`)),
      h("td", { class: "num", title: fmt.number(s.total_registros) }, fmt.compact(s.total_registros)),
      h("td", {}, fmt.day(s.ultima_fecha)),
      h("td", {}, gapBadge(s),
        failures ? h("span", { class: "small block error-msg" }, t("failed_windows", { n: failures })) : null),
      h("td", {},
        // Nothing expected and nothing loaded: the library says 100 %, a person reads "no data".
        s.dias_esperados === 0 && !s.dias_con_datos && !s.total_registros
          ? h("span", { class: "muted" }, t("no_data"))
          : completenessBar(s.completitud_pct),
        ranges.length
          ? h("span", { class: "muted small block" }, t("missing_ranges", { ranges: ranges.slice(0, 3).map(rangeText).join(", ") + (ranges.length > 3 ? "…" : "") }))
          : null),
      h("td", { class: "actions" },
        h("button", {
          type: "button", class: "small", disabled: !update, dataset: { action: "update" },
          "aria-label": update ? t("update_label", { store: name, from: update.from, to: update.to }) : t("update"),
          onclick: () => fillForm(id, name, update),
        }, t("update")),
        h("button", {
          type: "button", class: "small secondary", disabled: !recover, dataset: { action: "recover" },
          "aria-label": recover ? t("recover_label", { store: name, from: recover.from, to: recover.to }) : t("recover"),
          onclick: () => fillForm(id, name, recover),
        }, t("recover"))));
  }));

  // The store list of the run form.
  const select = $("#run-store");
  const current = select.value;
  fill(select, h("option", { value: "" }, t("all_stores")),
    stores.map((s) => h("option", { value: s.ubicacion_id }, `${s.ubicacion_nombre || s.ubicacion_id} (${s.ubicacion_id})`)));
  select.value = current;
}

function rangeText(r) {
  return r.desde === r.hasta ? fmt.day(r.desde) : `${fmt.day(r.desde)} → ${fmt.day(r.hasta)}`;
}

function completenessBar(value) {
  if (value === undefined || value === null) return h("span", { class: "muted" }, t("none"));
  const v = Math.max(0, Math.min(100, Number(value)));
  const bar = h("meter", { min: "0", max: "100", low: "90", high: "99", optimum: "100", value: String(v), "aria-label": `${t("completeness")} ${fmt.percent(v)}` });
  return h("span", { class: "completeness" }, bar, h("span", {}, fmt.percent(v)));
}

function fillForm(id, name, range) {
  if (!range) return;
  $("#run-store").value = id;
  $("#run-start").value = range.from;
  $("#run-end").value = range.to;
  $("#run-message").textContent = t("form_filled", { store: name, from: range.from, to: range.to });
  $("#run-message").dataset.kind = "info";
  $("#run-submit").focus();
}

async function submitRun(ev) {
  ev.preventDefault();
  const store = $("#run-store").value;
  const start = $("#run-start").value;
  const end = $("#run-end").value;
  const msg = $("#run-message");
  if (!start || !end) {
    msg.textContent = t("form_missing_dates");
    msg.dataset.kind = "error";
    return;
  }
  if (start > end) {
    msg.textContent = t("form_invalid_range");
    msg.dataset.kind = "error";
    return;
  }
  const body = {
    etl_name: "ventas",
    tienda_ids: store ? [store] : [],
    fecha_inicio: `${start} 00:00:00`,
    fecha_fin: `${end} 23:59:59`,
  };
  $("#run-submit").disabled = true;
  try {
    const r = await api.post(api.PATHS.run, body);
    const id = r && r.execution_id;
    msg.textContent = t("run_started", { id });
    msg.dataset.kind = "ok";
    followLogs(id);
    loadHistory();
  } catch (e) {
    if (e instanceof api.ApiError && e.kind === "http") {
      // A 400/422 says what is wrong with the input: show it beside the form.
      msg.textContent = t("err_server", { status: e.status, message: e.message });
      msg.dataset.kind = "error";
    } else {
      handleError(e, "run");
    }
  } finally {
    $("#run-submit").disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Live log of the running execution: the Server-Sent Events stream
// (`/api/etl/ventas/logs/stream`) while it holds, else `/api/etl/ventas/logs?since=` every 2 s
// (seed 000). Lines carry an increasing id; the viewer keeps the highest seen, so the two
// sources never show a line twice.

function resetLogs(executionId) {
  stopStream();
  state.logCursor = 0;
  state.logCount = 0;
  state.logExecution = executionId ?? null;
  fill($("#log-lines"));
  renderLogHead();
}

function renderLogHead() {
  const stateEl = $("#logs-state");
  const running = state.running;
  stateEl.dataset.state = running ? "running" : "idle";
  const mode = running ? (state.logMode === "live" ? t("logs_live") : t("logs_polling")) : t("logs_idle");
  fill(stateEl, h("span", { "aria-hidden": "true" }, running ? "● " : "○ "), running ? `${t("running")} · ${mode}` : mode);
  $("#logs-count").textContent = t("logs_count", { n: state.logCount });
  const open = $("#logs-open");
  if (state.logExecution) {
    open.hidden = false;
    open.textContent = t("view_execution", { id: state.logExecution });
  } else {
    open.hidden = true;
  }
  const list = $("#log-lines");
  if (!state.logCount && !list.querySelector(".empty")) {
    fill(list, h("li", { class: "muted empty" }, t("logs_empty")));
  } else if (!state.logCount) {
    list.querySelector(".empty").textContent = t("logs_empty");
  }
}

function appendLogs(lines) {
  const list = $("#log-lines");
  const fresh = lines.filter((l) => Number(l.id) > state.logCursor
    && (state.logExecution === null || l.execution_id === undefined || l.execution_id === state.logExecution));
  if (!fresh.length) return;
  const empty = list.querySelector(".empty");
  if (empty) empty.remove();
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 8;
  for (const line of fresh) {
    const level = String(line.level || "info").toLowerCase();
    list.append(h("li", { class: `log log-${level}`, dataset: { id: line.id } },
      h("time", { datetime: line.timestamp || undefined }, fmt.clock(line.timestamp)),
      " ",
      h("span", { class: "log-level" }, `[${level}]`),
      " ",
      line.store ? h("span", { class: "log-store" }, `${line.store} `) : null,
      h("span", { class: "log-msg" }, line.message ?? "")));
    state.logCursor = Math.max(state.logCursor, Number(line.id));
    state.logCount += 1;
  }
  // Keep the viewer bounded.
  while (list.children.length > 2000) list.firstElementChild.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
  renderLogHead();
}

async function pollLogs() {
  const exec = state.logExecution;
  const r = await guarded("logs", () => api.get(api.PATHS.ventasLogs + api.query({ since: state.logCursor, execution_id: exec })));
  if (!r || exec !== state.logExecution) return;
  if (!exec && r.execution_id) state.logExecution = r.execution_id;
  appendLogs(r.logs || []);
  // Whether the run ended is the status endpoint's call (the tracker's record), not the log's.
}

function stopStream() {
  if (state.logAbort) state.logAbort.abort();
  state.logAbort = null;
  state.logMode = "polling";
}

/** Follows the stream of the execution being shown; on any failure the 2 s polling takes over. */
function startStream() {
  stopStream();
  const exec = state.logExecution;
  if (!exec) return;
  const abort = new AbortController();
  state.logAbort = abort;
  state.logMode = "live";
  renderLogHead();
  api.stream(api.PATHS.ventasLogsStream + api.query({ execution_id: exec, since: state.logCursor }), (ev) => {
    if (ev.event !== "log") return;
    try {
      appendLogs([JSON.parse(ev.data)]);
    } catch {
      // A malformed event is skipped; polling would bring the line anyway.
    }
  }, abort.signal).catch(() => {}).finally(() => {
    if (state.logAbort === abort) {
      state.logAbort = null;
      state.logMode = "polling";
      renderLogHead();
    }
  });
}

function setRunning(running) {
  const was = state.running;
  state.running = running;
  if (!running) stopStream();
  renderLogHead();
  if (was && !running) {
    // The run just ended: the last lines, then its effect on the gaps, history and scheduler.
    pollLogs();
    loadGaps();
    loadHistory();
    loadScheduler();
  }
}

/** What the sales run is doing (every 2 s): follows a run started elsewhere (scheduler, CLI). */
async function loadStatus() {
  const s = await guarded("status", () => api.get(api.PATHS.ventasStatus));
  if (!s) return;
  const exec = s.execution_id ?? null;
  const following = state.logExecution;
  // Execution ids only grow: an answer about an older run than the one shown is stale (it
  // left before a run started from this page).
  if (exec === null || (following !== null && exec < following)) return;
  if (exec !== following) {
    if (s.running) {
      followLogs(exec);
    } else {
      // Nothing running: show the last run's lines.
      resetLogs(exec);
      state.running = false;
      renderLogHead();
      pollLogs();
    }
    return;
  }
  if (Boolean(s.running) !== state.running) setRunning(Boolean(s.running));
}

function followLogs(executionId) {
  resetLogs(executionId);
  state.running = true;
  renderLogHead();
  pollLogs().then(() => { if (state.running && state.logExecution === executionId) startStream(); });
}

// ---------------------------------------------------------------------------------------------
// History

function historyFilters() {
  const form = $("#history-filters");
  const data = Object.fromEntries(new FormData(form).entries());
  return data;
}

async function loadHistory() {
  const params = { ...historyFilters(), limit: state.historyLimit, offset: state.historyOffset };
  const r = await guarded("history", () => api.get(api.PATHS.history + api.query(params)));
  if (r === undefined) return;
  state.historyRows = Array.isArray(r) ? r : [];
  renderHistory();
}

function renderHistory() {
  const rows = state.historyRows;
  $("#history-message").textContent = rows.length ? "" : t("no_executions");
  fill($("#history-table tbody"), rows.map((r) => {
    const total = r.tiendas_count ?? 0;
    const ok = r.tiendas_exitosas ?? 0;
    const failed = r.tiendas_fallidas ?? 0;
    return h("tr", { class: `status-row-${r.status}`, dataset: { execution: r.id, status: r.status } },
      h("td", { class: "num" }, String(r.id)),
      h("td", {}, h("time", { datetime: r.started_at }, fmt.dateTime(r.started_at))),
      h("td", {}, h("span", { class: `badge kind-${r.etl_name}` }, tv("kind", r.etl_name)),
        r.etl_type ? h("span", { class: "muted small block" }, r.etl_type) : null),
      h("td", {}, statusBadge(r.status)),
      h("td", { class: "num" }, r.status === "running" && r.duration_seconds == null ? "…" : fmt.duration(r.duration_seconds)),
      h("td", { "aria-label": t("stores_cell_label", { ok, failed, total }) },
        h("span", { "aria-hidden": "true" }, t("stores_cell", { ok, failed, total }))),
      h("td", { class: "num" }, fmt.number(r.records_loaded),
        h("span", { class: "muted small block" }, t("duplicates_n", { n: fmt.number(r.duplicates_skipped ?? 0) }))),
      h("td", {}, phaseLabel(r.error_phase, r.error_category)),
      h("td", {}, originBadge(r.triggered_by)),
      h("td", {}, h("button", {
        type: "button", class: "small secondary", "aria-label": t("view_detail_label", { id: r.id }),
        onclick: (e) => openDetail(r.id, e.currentTarget),
      }, t("view_detail"))));
  }));
  const page = Math.floor(state.historyOffset / state.historyLimit) + 1;
  $("#history-page").textContent = t("page_of", { page });
  $("#history-prev").disabled = state.historyOffset === 0;
  $("#history-next").disabled = rows.length < state.historyLimit;
}

// ---------------------------------------------------------------------------------------------
// Execution detail

let detailReturnFocus = null;

async function openDetail(id, from) {
  const d = await guarded("detail", () => api.get(api.path(api.PATHS.historyDetail, { id })));
  if (!d) return;
  detailReturnFocus = from || document.activeElement;
  renderDetail(d);
  const dialog = $("#detail");
  if (!dialog.open) dialog.showModal();
  $("#detail-close").focus();
}

function card(label, value, cls) {
  return h("div", { class: `stat ${cls || ""}` }, h("dt", {}, label), h("dd", {}, value));
}

function renderDetail(d) {
  state.detail = d; // kept so a language switch can redraw it
  $("#detail-title").textContent = t("execution_title", { id: d.id, kind: tv("kind", d.etl_name) });
  const body = $("#detail-body");
  body.dataset.execution = String(d.id);
  const stores = d.tiendas_detail || [];
  const sections = [];
  sections.push(h("p", { class: "detail-meta" },
    statusBadge(d.status), " ", originBadge(d.triggered_by), " ",
    h("span", { class: "muted" }, `${fmt.dateTime(d.started_at)} · ${t("window")}: ${fmt.storeDateTime(d.fecha_desde)} → ${fmt.storeDateTime(d.fecha_hasta)} (${fmt.STORE_TZ})`),
    d.is_recovery && d.recovered_gap_id ? h("span", { class: "muted block" }, t("recovery_of", { id: d.recovered_gap_id })) : null));
  sections.push(h("dl", { class: "cards four" },
    card(t("total_duration"), d.status === "running" && d.duration_seconds == null ? "…" : fmt.duration(d.duration_seconds)),
    card(t("records_loaded"), fmt.number(d.records_loaded)),
    card(t("duplicates_skipped"), fmt.number(d.duplicates_skipped)),
    card(t("source_system"), d.source_system || t("none"))));
  sections.push(h("h3", {}, t("phase_times")), h("p", { class: "muted small" }, t("phase_times_note")));
  sections.push(h("dl", { class: "cards three phases" },
    card(`${PHASE_ICON.extract} ${t("phase_extract")}`, fmt.duration(d.extract_duration_seconds)),
    card(`${PHASE_ICON.transform} ${t("phase_transform")}`, fmt.duration(d.transform_duration_seconds)),
    card(`${PHASE_ICON.load} ${t("phase_load")}`, fmt.duration(d.load_duration_seconds))));
  if (d.error_phase || d.error_category || d.error_message) {
    sections.push(h("section", { class: "error-panel", "aria-labelledby": "detail-error-title" },
      h("h3", { id: "detail-error-title" }, h("span", { "aria-hidden": "true" }, "⚠ "), t("error_panel")),
      h("dl", { class: "kv" },
        h("dt", {}, t("error_phase")), h("dd", {}, d.error_phase ? `${PHASE_ICON[d.error_phase] || ""} ${tv("phase", d.error_phase)}` : t("none")),
        h("dt", {}, t("error_category")), h("dd", {}, h("code", {}, d.error_category || t("none"))),
        h("dt", {}, t("error_source")), h("dd", {}, d.error_source || t("none"))),
      d.error_message ? h("pre", {}, d.error_message) : null,
      d.error_detail && d.error_detail !== d.error_message ? h("pre", { class: "small" }, d.error_detail) : null));
  }
  sections.push(h("h3", { id: "detail-stores-title" }, t("per_store")));
  sections.push(h("div", { class: "table-wrap" }, h("table", { id: "detail-stores", "aria-labelledby": "detail-stores-title" },
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, t("store")),
      h("th", { scope: "col" }, t("system")),
      h("th", { scope: "col" }, t("col_status")),
      h("th", { scope: "col", class: "num" }, t("col_time")),
      h("th", { scope: "col", class: "num" }, t("col_extracted")),
      h("th", { scope: "col", class: "num" }, t("col_loaded")),
      h("th", { scope: "col", class: "num" }, t("latency")),
      h("th", { scope: "col" }, t("col_error")))),
    h("tbody", {}, stores.map((s) => h("tr", { class: s.status === "failed" ? "row-bad" : undefined, dataset: { store: s.tienda_id, status: s.status } },
      h("th", { scope: "row" }, s.tienda_nombre || s.tienda_id, h("span", { class: "muted small block" }, s.tienda_id)),
      h("td", {}, s.source_system || t("none")),
      h("td", {}, statusBadge(s.status)),
      h("td", { class: "num" }, fmt.duration(s.duration_seconds)),
      h("td", { class: "num" }, fmt.number(s.records_extracted)),
      h("td", { class: "num" }, fmt.number(s.records_loaded),
        s.duplicates_skipped ? h("span", { class: "muted small block" }, t("duplicates_n", { n: fmt.number(s.duplicates_skipped) })) : null),
      h("td", { class: "num" }, fmt.millis(s.connection_latency_ms)),
      h("td", {}, phaseLabel(s.error_phase, s.error_category),
        s.error_message ? h("span", { class: `small block ${s.status === "failed" ? "error-msg" : "muted"}` }, s.error_message) : null)))))));
  fill(body, sections);
}

function closeDetail() {
  const dialog = $("#detail");
  if (dialog.open) dialog.close();
}

// ---------------------------------------------------------------------------------------------
// Statistics, with the errors chart as inline SVG (horizontal bars, value written beside each).

async function loadStats() {
  const dias = $("#stats-days").value;
  const s = await guarded("stats", () => api.get(api.PATHS.stats + api.query({ dias })));
  if (!s) return;
  state.stats = s;
  renderStats();
}

function barChart(entries, title) {
  if (!entries.length) return h("p", { class: "muted" }, t("no_errors"));
  const max = Math.max(...entries.map(([, n]) => n), 1);
  const rowH = 26;
  const labelW = 150;
  const width = 420;
  const barMax = width - labelW - 50;
  const svg = h("svg:svg", {
    viewBox: `0 0 ${width} ${entries.length * rowH + 4}`, width: "100%", role: "img", "aria-label": title, class: "chart",
  }, h("svg:title", {}, title));
  entries.forEach(([label, n], i) => {
    const y = i * rowH + 2;
    const w = Math.max(2, Math.round((n / max) * barMax));
    svg.append(
      h("svg:text", { x: labelW - 8, y: y + rowH / 2 + 4, "text-anchor": "end", class: "chart-label" }, label),
      h("svg:rect", { x: labelW, y: y + 4, width: w, height: rowH - 10, rx: 3, class: `chart-bar bar-${i % 6}` },
        h("svg:title", {}, t("chart_label", { label, n }))),
      h("svg:text", { x: labelW + w + 6, y: y + rowH / 2 + 4, class: "chart-value" }, String(n)));
  });
  return svg;
}

function sortedEntries(obj) {
  return Object.entries(obj || {}).map(([k, v]) => [k, Number(v)]).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
}

function renderStats() {
  const s = state.stats;
  const dias = $("#stats-days").value;
  $("#stats-rate-label").textContent = t("success_rate", { n: dias });
  $("#stats-rate").textContent = fmt.percent(s.success_rate);
  $("#stats-avg").textContent = fmt.duration(s.avg_duration_seconds);
  $("#stats-total").textContent = `${fmt.number(s.total_executions)} (${fmt.number(s.successful)} ✓ / ${fmt.number(s.partial)} ◐ / ${fmt.number(s.failed)} ✗)`;
  $("#stats-loaded").textContent = fmt.number(s.total_records_loaded);
  fill($("#chart-phase"), barChart(sortedEntries(s.errors_by_phase).map(([k, v]) => [tv("phase", k), v]), t("errors_by_phase")));
  fill($("#chart-category"), barChart(sortedEntries(s.errors_by_category), t("errors_by_category")));
  const worst = s.tiendas_con_mas_fallos || [];
  fill($("#worst-table tbody"), worst.length
    ? worst.map((w) => h("tr", {},
      h("th", { scope: "row" }, w.tienda_nombre || w.tienda_id, h("span", { class: "muted small block" }, w.tienda_id)),
      h("td", { class: "num" }, fmt.number(w.fallos)),
      h("td", { class: "num" }, fmt.number(w.total_ejecuciones)),
      h("td", {}, w.error_mas_comun ? h("code", {}, w.error_mas_comun) : t("none"))))
    : h("tr", {}, h("td", { colspan: "4", class: "muted" }, t("no_errors"))));
}

// ---------------------------------------------------------------------------------------------
// Tabs (WAI-ARIA pattern: arrows move between tabs, Home/End jump)

const TABS = ["sales", "history", "stats"];

function selectTab(name, focus = false) {
  for (const tab of TABS) {
    const btn = $(`#tab-${tab}`);
    const on = tab === name;
    btn.setAttribute("aria-selected", String(on));
    btn.tabIndex = on ? 0 : -1;
    $(`#panel-${tab}`).hidden = !on;
    if (on && focus) btn.focus();
  }
  if (name === "history") loadHistory();
  if (name === "stats") loadStats();
}

function tabKeys(ev) {
  const i = TABS.findIndex((n) => $(`#tab-${n}`) === ev.currentTarget);
  let next = null;
  if (ev.key === "ArrowRight") next = TABS[(i + 1) % TABS.length];
  else if (ev.key === "ArrowLeft") next = TABS[(i + TABS.length - 1) % TABS.length];
  else if (ev.key === "Home") next = TABS[0];
  else if (ev.key === "End") next = TABS[TABS.length - 1];
  if (next) {
    ev.preventDefault();
    selectTab(next, true);
  }
}

// ---------------------------------------------------------------------------------------------
// Timers: the scheduler every 30 s and the run's status (and log, when the stream is not live)
// every 2 s, as seed 000 polls; the history every 5 s while one of its rows is running (the
// pulsing badge turns into the result). Nothing is polled while the tab is in the background;
// coming back refreshes everything.

let timers = [];

function quiet() {
  return unreachable || document.hidden;
}

function startTimers() {
  stopTimers();
  timers.push(setInterval(() => { if (!quiet()) loadScheduler(); }, 30000));
  timers.push(setInterval(() => {
    if (quiet()) return;
    if (state.running && state.logMode !== "live") pollLogs();
    loadStatus();
  }, 2000));
  timers.push(setInterval(() => {
    if (quiet()) return;
    if (!$("#panel-history").hidden && state.historyRows.some((r) => r.status === "running")) loadHistory();
  }, 5000));
}

function stopTimers() {
  for (const id of timers) clearInterval(id);
  timers = [];
}

async function refreshAll() {
  await Promise.all([loadScheduler(), loadGaps(), loadStatus()]);
  if (!api.token()) return; // a 401 signed us out
  loadConnectivity();
  if (!$("#panel-history").hidden) loadHistory();
  if (!$("#panel-stats").hidden) loadStats();
}

function retranslate() {
  translatePage();
  renderScheduler();
  renderGaps();
  renderConnectivity();
  renderLogHead();
  if (state.historyRows.length || !$("#panel-history").hidden) renderHistory();
  if (state.stats) renderStats();
  const dialog = $("#detail");
  if (dialog.open && state.detail) renderDetail(state.detail);
}

async function start() {
  api.takeTokenFromFragment();
  translatePage();
  const langSelect = $("#lang-select");
  langSelect.value = lang();
  langSelect.addEventListener("change", () => {
    if (LANGUAGES.includes(langSelect.value)) {
      setLang(langSelect.value);
      retranslate();
    }
  });
  $("#banner-close").addEventListener("click", hideBanner);
  $("#banner-retry").addEventListener("click", () => { unreachable = false; hideBanner(); refreshAll(); });
  $("#signin-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const value = $("#token-input").value.trim();
    if (!value) return;
    api.setToken(value);
    $("#token-input").value = "";
    hideBanner();
    enter();
  });
  $("#signout").addEventListener("click", () => {
    api.setToken(null);
    stopTimers();
    hideBanner();
    showSignin();
  });
  $("#conn-refresh").addEventListener("click", loadConnectivity);
  $("#auto-toggle").addEventListener("click", toggleScheduler);
  $("#auto-run").addEventListener("click", triggerScheduler);
  $("#config-form").addEventListener("submit", saveConfig);
  $("#run-form").addEventListener("submit", submitRun);
  $("#logs-open").addEventListener("click", (e) => state.logExecution && openDetail(state.logExecution, e.currentTarget));
  for (const tab of TABS) {
    $(`#tab-${tab}`).addEventListener("click", () => selectTab(tab));
    $(`#tab-${tab}`).addEventListener("keydown", tabKeys);
  }
  $("#history-filters").addEventListener("submit", (ev) => { ev.preventDefault(); state.historyOffset = 0; loadHistory(); });
  $("#history-filters").addEventListener("reset", () => setTimeout(() => { state.historyOffset = 0; loadHistory(); }));
  $("#history-prev").addEventListener("click", () => { state.historyOffset = Math.max(0, state.historyOffset - state.historyLimit); loadHistory(); });
  $("#history-next").addEventListener("click", () => { state.historyOffset += state.historyLimit; loadHistory(); });
  $("#stats-days").addEventListener("change", loadStats);
  $("#detail-close").addEventListener("click", closeDetail);
  $("#detail").addEventListener("close", () => { if (detailReturnFocus) detailReturnFocus.focus(); });
  $("#detail").addEventListener("click", (e) => { if (e.target === $("#detail")) closeDetail(); });

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && timers.length && !unreachable) refreshAll();
  });

  // A `/#token=…` URL pasted into a tab that already shows the page signs in with it too.
  window.addEventListener("hashchange", () => {
    if (api.takeTokenFromFragment()) {
      hideBanner();
      enter();
    }
  });

  if (api.token()) enter();
  else showSignin();
}

function enter() {
  showApp();
  renderLogHead();
  refreshAll();
  startTimers();
}

start();
