import * as api from "./api.js";
import { t } from "./i18n.js";
import * as fmt from "./format.js";
import { $, fill, h } from "./dom.js";
import { gapBadge, gapLevel } from "./badges.js";
import { state } from "./state.js";
import { guarded, handleError } from "./errors.js";
import { renderConnectivity } from "./connectivity.js";
import { followLogs } from "./logs.js";
import { loadHistory } from "./history.js";

// ---------------------------------------------------------------------------------------------
// Manual ETL: counts, gaps table, run form

export async function loadGaps() {
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

export function renderGaps() {
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

export async function submitRun(ev) {
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
