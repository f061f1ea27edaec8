import * as api from "./api.js";
import { t } from "./i18n.js";
import * as fmt from "./format.js";
import { $, fill, h } from "./dom.js";
import { state } from "./state.js";
import { guarded } from "./errors.js";
import { openDetail } from "./detail.js";

// ---------------------------------------------------------------------------------------------
// Connectivity: per store, the reachability of its source and the connect latency.

/**
 * Each store's source dialled right now (`GET /api/etl/connectivity`: a timed TCP connect to the
 * KLK API or the Stellar database, the failure classified). A server without that endpoint (an
 * older one: 404) gets the executions' per-store network diagnostics instead: each store's latest
 * contact, from the newest finished executions until every store is covered (at most 8 read).
 */
export async function loadConnectivity() {
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

export function renderConnectivity() {
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
