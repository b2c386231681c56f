// The HTTP API (CONTRACT section 4) and the run's event stream (section 3).

import { pageLanguage, t } from "./i18n.js";
import { CLIENT_HEADER, clientToken, withClientToken } from "./client_token.js";

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
const FINAL_EVENTS = new Set(["done", "error"]);
const MAX_RECONNECTS = 8;

/**
 * Follow a run's SSE stream.  The browser reconnects by itself and sends
 * Last-Event-ID; when it gives up (the stream answered with an error) we reopen
 * with ``?since=<last id>``.  Events are delivered once, in id order, to
 * ``onEvent(name, data)``; ``onLost(message)`` is called when the stream cannot
 * be recovered.  Returns ``{close()}``.
 *
 * For the event names in ``parseLater``, ``data`` is a function that parses
 * the event's JSON when called (null if it does not parse): a reader that
 * keeps only the newest of those events parses just the ones it uses.
 */
export function followRun(eventsUrl, { onEvent, onLost, parseLater = new Set() }) {
  let lastId = -1;
  let source = null;
  let failures = 0;
  let closed = false;
  let timer = null;

  const deliver = (name, message) => {
    const id = message.lastEventId === "" ? NaN : Number(message.lastEventId);
    if (Number.isFinite(id)) {
      if (id <= lastId) return;
      lastId = id;
    }
    failures = 0;
    let data;
    if (parseLater.has(name)) {
      const text = message.data;
      data = () => { try { return JSON.parse(text); } catch { return null; } };
    } else {
      try { data = JSON.parse(message.data); } catch { data = { message: String(message.data) }; }
    }
    if (FINAL_EVENTS.has(name)) close();
    onEvent(name, data);
  };

  const open = () => {
    const url = lastId >= 0 ? `${eventsUrl}${eventsUrl.includes("?") ? "&" : "?"}since=${lastId}` : eventsUrl;
    source = new EventSource(withClientToken(url));
    for (const name of RUN_EVENTS) source.addEventListener(name, (message) => deliver(name, message));
    source.addEventListener("error", (event) => {
      // A run's own "error" event is a MessageEvent with data; a connection failure is not.
      if (event instanceof MessageEvent && event.data) {
        deliver("error", event);
        return;
      }
      if (closed) return;
      failures += 1;
      if (failures > MAX_RECONNECTS) {
        close();
        onLost(t("Lost the connection to the run."));
      } else if (source.readyState === EventSource.CLOSED) {
        timer = setTimeout(open, Math.min(4000, 250 * 2 ** failures));
      }
    });
  };

  const close = () => {
    closed = true;
    clearTimeout(timer);
    source?.close();
  };

  open();
  return { close };
}
