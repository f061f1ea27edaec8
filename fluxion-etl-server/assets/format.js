// Numbers, dates and durations for people, in the page's language.

import { lang, t } from "./i18n.js";

const locale = () => (lang() === "es" ? "es-VE" : "en-US");

/** `2m 30s`, `45.2s`, `1h 05m`. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(Number(seconds))) return t("none");
  const s = Number(seconds);
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)}s`;
  const total = Math.round(s);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, "0")}m`;
  return `${m}m ${String(sec).padStart(2, "0")}s`;
}

/** 12.480 (es) / 12,480 (en). */
export function number(n) {
  if (n === null || n === undefined || n === "") return t("none");
  const v = Number(n);
  if (Number.isNaN(v)) return String(n);
  return v.toLocaleString(locale());
}

/** 9.0M, 5.4k: for big counts in narrow columns; the exact number goes in a title. */
export function compact(n) {
  if (n === null || n === undefined) return t("none");
  const v = Number(n);
  if (Math.abs(v) >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (Math.abs(v) >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  return number(v);
}

/** 97.7 % */
export function percent(n, digits = 1) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return t("none");
  return `${Number(n).toLocaleString(locale(), { maximumFractionDigits: digits, minimumFractionDigits: 0 })} %`;
}

/** A timestamp (ISO, UTC) in the browser's time zone: `23 oct 2026, 05:00`. */
export function dateTime(iso) {
  if (!iso) return t("never");
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(locale(), {
    year: "numeric",
    month: "short",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
  });
}

/** Clock time with seconds, for log lines. */
export function clock(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

/** A calendar day (`2026-10-17`) shown as is: store days are store-local, never shifted. */
export function day(value) {
  if (!value) return t("none");
  return String(value).slice(0, 10);
}

/** Milliseconds: `12 ms`, `1.3 s`. */
export function millis(ms) {
  if (ms === null || ms === undefined || Number.isNaN(Number(ms))) return t("none");
  const v = Number(ms);
  if (v >= 1000) return `${(v / 1000).toFixed(1)} s`;
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`;
}

/** The stores' time zone (no DST): windows are shown on the stores' wall clock. */
export const STORE_TZ = "America/Caracas";

/** A moment on the stores' wall clock: `20 nov 2026, 00:00`. */
export function storeDateTime(iso) {
  if (!iso) return t("none");
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  try {
    return d.toLocaleString(locale(), {
      timeZone: STORE_TZ,
      year: "numeric",
      month: "short",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hour12: false,
    });
  } catch {
    return dateTime(iso);
  }
}

/** `17:42` today, `21 nov 17:42` another day (browser time zone). */
export function shortDateTime(iso) {
  if (!iso) return t("never");
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const time = d.toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit", hour12: false });
  if (d.toDateString() === new Date().toDateString()) return time;
  return `${d.toLocaleDateString(locale(), { day: "2-digit", month: "short" })} ${time}`;
}
