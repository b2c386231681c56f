// The 400 details' messages in the page's language, for the playground and the labs alike.

import { N_, pageLanguage, t } from "./i18n.js";

// The validation messages a learner meets (pydantic's English, which the API keeps for its
// clients), reworded through the catalog in other languages; any other message shows as the server wrote it.
const MESSAGES = [
  [/^Input should be greater than or equal to (\S+)$/, N_("Must be at least {value}.")],
  [/^Input should be greater than (\S+)$/, N_("Must be greater than {value}.")],
  [/^Input should be less than or equal to (\S+)$/, N_("Must be at most {value}.")],
  [/^Input should be less than (\S+)$/, N_("Must be less than {value}.")],
  [/^Input should be a finite number$/, N_("Must be a finite number.")],
  [/^Input should be a valid number/, N_("Must be a number.")],
  [/^Input should be a valid integer/, N_("Must be a whole number.")],
  [/^Input should be (.+)$/, N_("Must be {value}.")],
  [/^Field required$/, N_("Required.")],
  [/^Extra inputs are not permitted$/, N_("Unknown field.")],
];

/** A 400 detail's message in the page's language. */
export function detailMessage({ msg }) {
  if (pageLanguage() === "en") return msg;
  for (const [pattern, template] of MESSAGES) {
    const match = pattern.exec(msg);
    if (match) return t(template, { value: match[1] ?? "" });
  }
  return msg;
}
