// A search's event stream: search, trial, best, done (see docs/search.md).
// EventSource reconnects by itself with Last-Event-ID; when it gives up we
// reopen with ?since=<last id>.  Each event reaches ``onEvent`` once, in order.

import { withClientToken } from "../js/client_token.js";

export const SEARCH_EVENTS = ["search", "trial", "best", "done"];
const MAX_RECONNECTS = 8;

export function followSearch(eventsUrl, { onEvent, onLost }) {
  let lastId = 0;
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
    const id = Number(message.lastEventId);
    if (Number.isFinite(id) && message.lastEventId !== "") {
      if (id <= lastId) return;
      lastId = id;
    }
    failures = 0;
    if (name === "done") close();
    onEvent(name, JSON.parse(message.data));
  };

  const open = () => {
    source = new EventSource(withClientToken(lastId > 0 ? `${eventsUrl}?since=${lastId}` : eventsUrl));
    for (const name of SEARCH_EVENTS) source.addEventListener(name, (message) => deliver(name, message));
    source.addEventListener("error", () => {
      if (closed) return;
      failures += 1;
      if (failures > MAX_RECONNECTS) {
        close();
        onLost("Lost the connection to the search.");
      } else if (source.readyState === EventSource.CLOSED) {
        timer = setTimeout(open, Math.min(4000, 250 * 2 ** failures));
      }
    });
  };

  open();
  return { close };
}
