import * as api from "./api.js";
import { t } from "./i18n.js";
import * as fmt from "./format.js";
import { $, fill, h, toast } from "./dom.js";
import { statusBadge } from "./badges.js";
import { state } from "./state.js";
import { guarded, handleError, serverAnswered } from "./errors.js";
import { followLogs } from "./logs.js";

// ---------------------------------------------------------------------------------------------
// Automatic ETL

export async function loadScheduler() {
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
  serverAnswered();
  state.scheduler = s;
  renderScheduler();
}

export function renderScheduler() {
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

export async function saveConfig(ev) {
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

export async function toggleScheduler() {
  const enabled = $("#auto-toggle").dataset.enabled === "true";
  const btn = $("#auto-toggle");
  btn.disabled = true;
  await guarded("toggle", () => api.post(enabled ? api.PATHS.schedulerDisable : api.PATHS.schedulerEnable));
  btn.disabled = false;
  await loadScheduler();
}

export async function triggerScheduler() {
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
