// The shell around the panels: sign-in, tabs, the timers that keep the panels fresh, the
// language switch, and the wiring of every control.

import * as api from "./api.js";
import { LANGUAGES, lang, setLang, translatePage } from "./i18n.js";
import { $ } from "./dom.js";
import { state } from "./state.js";
import { hideBanner, isUnreachable, retryNow } from "./errors.js";
import { loadConnectivity, renderConnectivity } from "./connectivity.js";
import { loadScheduler, renderScheduler, saveConfig, toggleScheduler, triggerScheduler } from "./scheduler.js";
import { loadGaps, renderGaps, submitRun } from "./gaps.js";
import { loadStatus, pollLogs, renderLogHead } from "./logs.js";
import { loadHistory, renderHistory } from "./history.js";
import { closeDetail, openDetail, renderDetail, restoreFocus } from "./detail.js";
import { loadStats, renderStats } from "./stats.js";

// ---------------------------------------------------------------------------------------------
// ---------------------------------------------------------------------------------------------
// Sign-in

export function showSignin() {
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
  return isUnreachable() || document.hidden;
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

export function stopTimers() {
  for (const id of timers) clearInterval(id);
  timers = [];
}

export async function refreshAll() {
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

export async function start() {
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
  $("#banner-retry").addEventListener("click", retryNow);
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
  $("#detail").addEventListener("close", restoreFocus);
  $("#detail").addEventListener("click", (e) => { if (e.target === $("#detail")) closeDetail(); });

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && timers.length && !isUnreachable()) refreshAll();
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
