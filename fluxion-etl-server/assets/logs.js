import * as api from "./api.js";
import { t } from "./i18n.js";
import * as fmt from "./format.js";
import { $, fill, h } from "./dom.js";
import { state } from "./state.js";
import { guarded } from "./errors.js";
import { loadGaps } from "./gaps.js";
import { loadHistory } from "./history.js";
import { loadScheduler } from "./scheduler.js";

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

export function renderLogHead() {
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

export async function pollLogs() {
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
export async function loadStatus() {
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

export function followLogs(executionId) {
  resetLogs(executionId);
  state.running = true;
  renderLogHead();
  pollLogs().then(() => { if (state.running && state.logExecution === executionId) startStream(); });
}
