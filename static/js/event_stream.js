// A reconnecting EventSource for this server's streams (runs, searches): every
// message has an increasing `id`, and a stream reopened with `?since=<id>`
// replays every later event, none twice.
//
// The browser reconnects by itself and sends Last-Event-ID; when it gives up
// (the server answered with an error status) the stream is reopened here with
// `?since=<last id>`, backing off from 0.5 s to 4 s.  Each event reaches
// `onEvent(name, data)` once, in id order; after `maxReconnects` failures in a
// row `onLost()` is called and the stream is closed.

const DEFAULT_RECONNECTS = 8;

/**
 * Follow `eventsUrl`, listening to the event names in `events`.  A name in
 * `finalEvents` closes the stream once delivered.  An `"error"` in `events`
 * is the stream's own event of that name (a message with data), told apart
 * from the connection failures EventSource reports under the same name.
 *
 * For the names in `parseLater`, `data` is a function that parses the
 * event's JSON when called (null if it does not parse): a reader that keeps
 * only the newest of those events parses just the ones it uses.  Data that
 * is not JSON arrives as `{message: <the text>}`.  Returns `{ close() }`.
 */
export function followEvents(eventsUrl, { events, finalEvents = [], onEvent, onLost,
  parseLater = new Set(), maxReconnects = DEFAULT_RECONNECTS }) {
  const final = new Set(finalEvents);
  const ownErrors = events.includes("error");
  let lastId = null;
  let source = null;
  let failures = 0;
  let closed = false;
  let timer = null;

  const close = () => {
    closed = true;
    clearTimeout(timer);
    source?.close();
  };

  const deliver = (name, message) => {
    if (closed) return;
    if (message.lastEventId !== "") {
      const id = Number(message.lastEventId);
      if (lastId !== null && id <= lastId) return;
      lastId = id;
    }
    failures = 0;
    if (final.has(name)) close();
    onEvent(name, parseLater.has(name) ? () => parse(message.data, null) : parse(message.data));
  };

  const open = () => {
    const separator = eventsUrl.includes("?") ? "&" : "?";
    source = new EventSource(lastId === null ? eventsUrl : `${eventsUrl}${separator}since=${lastId}`);
    for (const name of events) {
      if (name !== "error") source.addEventListener(name, (message) => deliver(name, message));
    }
    source.addEventListener("error", (event) => {
      if (event instanceof MessageEvent && event.data) {
        if (ownErrors) deliver("error", event);
        return;
      }
      if (closed) return;
      failures += 1;
      if (failures > maxReconnects) {
        close();
        onLost();
      } else if (source.readyState === EventSource.CLOSED) {
        timer = setTimeout(open, Math.min(4000, 250 * 2 ** failures));
      }
    });
  };

  open();
  return { close };
}

function parse(text, fallback = { message: String(text) }) {
  try { return JSON.parse(text); } catch { return fallback; }
}
