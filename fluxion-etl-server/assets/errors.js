import * as api from "./api.js";
import { t } from "./i18n.js";
import { $ } from "./dom.js";
import { refreshAll, showSignin, stopTimers } from "./shell.js";

// ---------------------------------------------------------------------------------------------
// Errors: 401 signs out, 403 explains the role, an unreachable server gets a banner and retries.

let unreachable = false;

export function showBanner(text, { retry = false, kind = "error" } = {}) {
  const b = $("#banner");
  b.dataset.kind = kind;
  $("#banner-text").textContent = text;
  $("#banner-retry").hidden = !retry;
  b.hidden = false;
}

export function hideBanner() {
  $("#banner").hidden = true;
}

export function handleError(e, context) {
  if (!(e instanceof api.ApiError)) {
    console.error(context, e);
    showBanner(t("err_generic", { message: e && e.message ? e.message : String(e) }));
    return;
  }
  if ((e.kind === "auth" || e.kind === "forbidden") && e.tokenUsed !== api.token()) {
    return; // answered for a token that has been replaced since
  }
  if (e.kind === "auth") {
    api.setToken(null);
    stopTimers();
    showSignin();
    showBanner(t("err_401"));
  } else if (e.kind === "forbidden") {
    showBanner(t("err_403"));
  } else if (e.kind === "unreachable") {
    if (!unreachable) {
      unreachable = true;
      showBanner(t("err_unreachable"), { retry: true, kind: "offline" });
      waitForServer();
    }
  } else {
    showBanner(t("err_server", { status: e.status, message: e.message || "" }));
  }
}

/** Retries quietly every few seconds until the server answers again, then reloads the data. */
export function waitForServer() {
  clearTimeout(waitForServer.timer);
  waitForServer.timer = setTimeout(async () => {
    try {
      await api.get(api.PATHS.ventasStatus);
      unreachable = false;
      hideBanner();
      refreshAll();
    } catch (e) {
      if (e instanceof api.ApiError && e.kind === "unreachable") waitForServer();
      else {
        unreachable = false;
        handleError(e);
      }
    }
  }, 3000);
}

/** Runs `fn`, routing its failure to the banner. Returns its result or undefined. */
export async function guarded(context, fn) {
  try {
    const r = await fn();
    if (unreachable) {
      unreachable = false;
      hideBanner();
    }
    return r;
  } catch (e) {
    handleError(e, context);
    return undefined;
  }
}

/** Whether the server is known to be unreachable (the banner is up and retrying). */
export function isUnreachable() {
  return unreachable;
}

/** The server answered: an unreachable banner goes. */
export function serverAnswered() {
  if (unreachable) {
    unreachable = false;
    hideBanner();
  }
}

/** The operator asked to retry now. */
export function retryNow() {
  unreachable = false;
  hideBanner();
  refreshAll();
}
