import { h } from "./dom.js";
import { t, tv } from "./i18n.js";

// Badges: colour plus an icon and a word, so colour is never the only signal.

export const STATUS_ICON = { success: "✓", partial: "◐", failed: "✗", running: "●", skipped: "–", interrupted: "■" };

export function statusBadge(status) {
  const s = String(status || "").toLowerCase();
  return h("span", { class: `badge status-${s}`, dataset: { status: s } },
    h("span", { class: "badge-icon", "aria-hidden": "true" }, STATUS_ICON[s] || "•"),
    tv("status", s));
}

export const PHASE_ICON = { extract: "⤓", transform: "⟳", load: "⤒" };

export function phaseLabel(phase, category) {
  if (!phase && !category) return h("span", { class: "muted" }, t("none"));
  return h("span", { class: "error-cell" },
    phase ? h("span", { class: "phase" }, h("span", { "aria-hidden": "true" }, `${PHASE_ICON[phase] || "!"} `), tv("phase", phase)) : null,
    category ? h("code", { class: "category" }, category) : null);
}

export function originBadge(origin) {
  return h("span", { class: `badge origin origin-${origin}` }, tv("origin", origin));
}

/** The gaps badge (`estado`: al_dia / actualizar / critico) as ok / behind / critical. */
export function gapLevel(store) {
  return { al_dia: "ok", actualizar: "behind", critico: "critical" }[store.estado] || "behind";
}

export const LEVEL_ICON = { ok: "✓", behind: "!", critical: "✗" };

export function gapBadge(store) {
  const level = gapLevel(store);
  const days = store.dias_atraso ?? undefined;
  return h("span", { class: `badge level-${level}`, title: days === undefined ? undefined : t("days_long", { n: days }) },
    h("span", { class: "badge-icon", "aria-hidden": "true" }, LEVEL_ICON[level]),
    `${t(`badge_${level}`)}${days === undefined ? "" : ` · ${t("days_n", { n: days })}`}`);
}
