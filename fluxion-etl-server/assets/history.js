import * as api from "./api.js";
import { t, tv } from "./i18n.js";
import * as fmt from "./format.js";
import { $, fill, h } from "./dom.js";
import { originBadge, phaseLabel, statusBadge } from "./badges.js";
import { state } from "./state.js";
import { guarded } from "./errors.js";
import { openDetail } from "./detail.js";

// ---------------------------------------------------------------------------------------------
// History

function historyFilters() {
  const form = $("#history-filters");
  const data = Object.fromEntries(new FormData(form).entries());
  return data;
}

export async function loadHistory() {
  const params = { ...historyFilters(), limit: state.historyLimit, offset: state.historyOffset };
  const r = await guarded("history", () => api.get(api.PATHS.history + api.query(params)));
  if (r === undefined) return;
  state.historyRows = Array.isArray(r) ? r : [];
  renderHistory();
}

export function renderHistory() {
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
