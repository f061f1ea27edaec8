import * as api from "./api.js";
import { t, tv } from "./i18n.js";
import * as fmt from "./format.js";
import { $, fill, h } from "./dom.js";
import { PHASE_ICON, originBadge, phaseLabel, statusBadge } from "./badges.js";
import { state } from "./state.js";
import { guarded } from "./errors.js";

// ---------------------------------------------------------------------------------------------
// Execution detail

let detailReturnFocus = null;

export async function openDetail(id, from) {
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

export function renderDetail(d) {
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

export function closeDetail() {
  const dialog = $("#detail");
  if (dialog.open) dialog.close();
}

/** The dialog closed: focus goes back to what opened it. */
export function restoreFocus() {
  if (detailReturnFocus) detailReturnFocus.focus();
}
