// A search's event stream: search, trial, best, done (see docs/search.md),
// followed with the reconnecting helper; each event reaches ``onEvent`` once, in order.

import { t } from "../js/i18n.js";
import { withClientToken } from "../js/client_token.js";
import { followEvents } from "../js/event_stream.js";

export const SEARCH_EVENTS = ["search", "trial", "best", "done"];

export function followSearch(eventsUrl, { onEvent, onLost }) {
  // The client token comes first, so a resumed stream's URL still ends with since=<id>.
  return followEvents(withClientToken(eventsUrl), {
    events: SEARCH_EVENTS, finalEvents: ["done"], onEvent,
    onLost: () => onLost(t("Lost the connection to the search.")),
  });
}
