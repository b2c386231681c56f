// A 400's field errors placed next to their fields, and what happened said in the message bar.

import { ApiError } from "./api.js";
import { N_, pageLanguage, t } from "./i18n.js";
import { PROPERTY_BY_PATH } from "./state.js";

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

export class FieldErrors {
  constructor({ form, network, toolbar }) { Object.assign(this, { form, network, toolbar }); }

  clear() {
    this.form.clearErrors();
    this.toolbar.clearMessage();
  }

  /** ``prefix``: where the config sits in the error's locations ("config." for control bodies). */
  show(error, prefix = "") {
    if (!(error instanceof ApiError)) {
      this.toolbar.showMessage(String(error?.message ?? error), "error");
      return;
    }
    if (error.status === 400 && error.details.length) {
      const strip = (loc) => (loc.startsWith(prefix) ? loc.slice(prefix.length) : loc);
      let first = null;
      for (const detail of error.details) {
        const key = this.place(strip(detail.loc), detailMessage(detail));
        if (key && !first) first = key;
      }
      const summary = error.details.map((detail) => `${strip(detail.loc)}: ${detailMessage(detail)}`);
      this.toolbar.showMessage(t("The server did not accept these settings. {problems}",
        { problems: summary.join("; ") }), "error");
      if (first) this.form.focus(first);
      return;
    }
    this.toolbar.showMessage(error.message, error.status === 429 ? "warning" : "error");
  }

  /** Show ``message`` next to the field at ``path``; returns the key of that field, or null. */
  place(path, message) {
    const layer = /^model\.hidden\.(\d+)(\.|$)/.exec(path);
    if (layer) return this.network.showError(Number(layer[1]), message) ? "layers" : null;
    if (path === "model.hidden") {
      this.form.showError("layers", message);
      return "layers";
    }
    if (path === "data.split") {
      this.form.showError("split", message);
      return "train";
    }
    const property = PROPERTY_BY_PATH.get(path);
    if (!property) return null;
    this.form.showError(property.key, message);
    return property.key;
  }
}
