import * as api from "./api.js";
import { t, tv } from "./i18n.js";
import * as fmt from "./format.js";
import { $, fill, h } from "./dom.js";
import { state } from "./state.js";
import { guarded } from "./errors.js";

// ---------------------------------------------------------------------------------------------
// Statistics, with the errors chart as inline SVG (horizontal bars, value written beside each).

export async function loadStats() {
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

export function renderStats() {
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
