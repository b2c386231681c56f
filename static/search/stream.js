// A search's event stream: search, trial, best, done (see docs/search.md),
// followed with the reconnecting helper; each event reaches ``onEvent`` once, in order.

import { followEvents } from "./event-stream.js";

export const SEARCH_EVENTS = ["search", "trial", "best", "done"];

export function followSearch(eventsUrl, { onEvent, onLost }) {
  return followEvents(eventsUrl, {
    events: SEARCH_EVENTS, finalEvents: ["done"], onEvent,
    onLost: () => onLost("Lost the connection to the search."),
  });
}
