// The HTTP API (CONTRACT section 4) and the run's event stream (section 3).

import { pageLanguage, t } from "./i18n.js";
import { CLIENT_HEADER, clientToken, withClientToken } from "./client_token.js";
import { followEvents } from "./event_stream.js";

/** A non-2xx answer: ``details`` lists ``{loc, msg}`` for 400s, ``retryAfter`` is set for 429s. */
export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super(describeFailure(status, body, retryAfter));
    this.status = status;
    this.details = Array.isArray(body?.details) ? body.details : [];
    this.retryAfter = retryAfter;
  }
}

function describeFailure(status, body, retryAfter) {
  if (status === 429) {
    const wait = retryAfter ? t(" Try again in {seconds} s.", { seconds: retryAfter }) : "";
    return t("The server is training as many models as it can right now.") + wait;
  }
  if (status === 0) return t("The server cannot be reached.");
  return body?.error ? String(body.error) : t("The server answered {status}.", { status });
}

async function request(method, url, body) {
  let response;
  try {
    response = await fetch(url, {
      method,
      headers: body === undefined ? { [CLIENT_HEADER]: clientToken() }
        : { [CLIENT_HEADER]: clientToken(), "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, null, null);
  }
  const text = await response.text();
  let payload = null;
  try { payload = text ? JSON.parse(text) : null; } catch { payload = { error: text.slice(0, 200) }; }
  if (!response.ok) throw new ApiError(response.status, payload, response.headers.get("Retry-After"));
  return payload;
}

export const api = {
  createRun: (config) => request("POST", "/api/runs", config),
  control: (runId, body) => request("POST", `/api/runs/${encodeURIComponent(runId)}/control`, body),
  gradcheck: (config, injectBug) => request("POST", "/api/gradcheck", { config, inject_bug: injectBug }),
  // The page's language explicitly: an embedded page may not get its cookie.
  presets: () => request("GET", pageLanguage() === "en" ? "/api/presets" : `/api/presets?lang=${pageLanguage()}`),
  preview: (config) => request("POST", "/api/preview", config),
};

// ``gap``: the server's bounded log dropped events before this page read them.
export const RUN_EVENTS = ["config", "metrics", "boundary", "confusion", "diagnosis", "update", "gap", "done"];

/**
 * Follow a run's SSE stream (``followEvents``: reconnecting, each event once and
 * in id order) until its ``done`` or ``error``; ``onLost(message)`` when it
 * cannot be recovered.  Names in ``parseLater`` get their data as a parsing
 * function.  Returns ``{close()}``.
 */
export function followRun(eventsUrl, { onEvent, onLost, parseLater = new Set() }) {
  // The client token comes first, so a resumed stream's URL still ends with since=<id>.
  return followEvents(withClientToken(eventsUrl), {
    events: [...RUN_EVENTS, "error"], finalEvents: ["done", "error"], onEvent, parseLater,
    onLost: () => onLost(t("Lost the connection to the run.")),
  });
}
