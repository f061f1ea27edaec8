// The page's only way to the server: the documented API of seeds 000 and 003, with the
// operator's bearer token. Every path the page uses is written out here, whole, so the test
// `browser_api` can check each one against the server's OpenAPI document.

const TOKEN_KEY = "fluxion.token";

export const PATHS = {
  schedulerStatus: "/api/etl/scheduler/status",
  schedulerEnable: "/api/etl/scheduler/enable",
  schedulerDisable: "/api/etl/scheduler/disable",
  schedulerTrigger: "/api/etl/scheduler/trigger",
  schedulerConfig: "/api/etl/scheduler/config",
  syncVentas: "/api/etl/sync/ventas",
  run: "/api/etl/run",
  ventasStatus: "/api/etl/ventas/status",
  ventasLogs: "/api/etl/ventas/logs",
  ventasLogsStream: "/api/etl/ventas/logs/stream",
  gaps: "/api/ventas/gaps",
  connectivity: "/api/etl/connectivity",
  history: "/api/etl/history",
  historyDetail: "/api/etl/history/{id}",
  stats: "/api/etl/stats",
};

/** Why a call failed: `kind` is `auth` (401), `forbidden` (403), `unreachable`, or `http`. */
export class ApiError extends Error {
  constructor(kind, status, message, tokenUsed) {
    super(message);
    this.kind = kind;
    this.status = status;
    /** The token the request carried: a 401/403 for a token since replaced is old news. */
    this.tokenUsed = tokenUsed;
  }
}

/** The token of this tab's session, if any. */
export function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return memoryToken;
  }
}

let memoryToken = null;

/** Keeps the token for this tab's session (sessionStorage: gone when the tab closes). */
export function setToken(value) {
  memoryToken = value || null;
  try {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Private modes may refuse storage; the token then lives in memory for this page.
  }
}

/**
 * A token handed over in the URL fragment (`/#token=…`, what `fluxion-server --demo` prints)
 * signs in directly; the fragment is then removed from the address bar and the history.
 */
export function takeTokenFromFragment() {
  const hash = window.location.hash.replace(/^#/, "");
  if (!hash) return false;
  const params = new URLSearchParams(hash);
  const value = params.get("token");
  if (!value) return false;
  setToken(value);
  params.delete("token");
  const rest = params.toString();
  history.replaceState(null, "", window.location.pathname + window.location.search + (rest ? `#${rest}` : ""));
  return true;
}

/** Fills `{id}`-style placeholders of a path. */
export function path(template, vars = {}) {
  return template.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(vars[name]));
}

/** Query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** Calls the API and returns the parsed JSON (or null for an empty body). */
export async function call(method, url, body) {
  const headers = { Accept: "application/json" };
  const tok = token();
  if (tok) headers.Authorization = `Bearer ${tok}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "same-origin",
    });
  } catch (e) {
    throw new ApiError("unreachable", 0, String(e && e.message ? e.message : e));
  }
  const text = await res.text().catch(() => "");
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (res.status === 401) throw new ApiError("auth", 401, errorMessage(data, text), tok);
  if (res.status === 403) throw new ApiError("forbidden", 403, errorMessage(data, text), tok);
  // A proxy in front of a stopped server answers 502/503/504: the server is not there.
  if (res.status === 502 || res.status === 504) throw new ApiError("unreachable", res.status, errorMessage(data, text));
  if (!res.ok) throw new ApiError("http", res.status, errorMessage(data, text));
  return data;
}

/** The server's `{"error": "<code>", "detail": "<what is wrong>"}`: the detail is for people. */
function errorMessage(data, text) {
  if (data && typeof data === "object") {
    const msg = data.detail ?? data.message ?? data.error;
    if (typeof msg === "string") return msg;
    if (msg && typeof msg === "object" && typeof msg.message === "string") return msg.message;
  }
  return (text || "").slice(0, 200);
}

export const get = (url) => call("GET", url);
export const post = (url, body) => call("POST", url, body ?? {});
export const put = (url, body) => call("PUT", url, body);

/**
 * Follows a Server-Sent Events stream with the bearer token (EventSource cannot send headers, so
 * this reads the stream with fetch). Calls `onEvent({event, data, id})` per event; resolves when
 * the stream ends, rejects with ApiError when it cannot be opened. `signal` stops it.
 */
export async function stream(url, onEvent, signal) {
  const headers = { Accept: "text/event-stream" };
  const tok = token();
  if (tok) headers.Authorization = `Bearer ${tok}`;
  let res;
  try {
    res = await fetch(url, { headers, signal, cache: "no-store" });
  } catch (e) {
    if (signal && signal.aborted) return;
    throw new ApiError("unreachable", 0, String(e && e.message ? e.message : e));
  }
  if (res.status === 401) throw new ApiError("auth", 401, "", tok);
  if (res.status === 403) throw new ApiError("forbidden", 403, "", tok);
  if (!res.ok || !res.body) throw new ApiError("http", res.status, "");
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = { event: "message", data: [], id: null };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let nl;
      while ((nl = buffer.search(/\r?\n/)) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(buffer[nl] === "\r" ? nl + 2 : nl + 1);
        if (line === "") {
          if (event.data.length) onEvent({ event: event.event, data: event.data.join("\n"), id: event.id });
          event = { event: "message", data: [], id: null };
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let val = colon < 0 ? "" : line.slice(colon + 1);
          if (val.startsWith(" ")) val = val.slice(1);
          if (field === "data") event.data.push(val);
          else if (field === "event") event.event = val;
          else if (field === "id") event.id = val;
        }
      }
    }
  } catch (e) {
    if (signal && signal.aborted) return;
    throw new ApiError("unreachable", 0, String(e && e.message ? e.message : e));
  }
}
