// A 400's field errors placed next to their fields, and what happened said in the message bar.

import { ApiError } from "./api.js";
import { t } from "./i18n.js";
import { detailMessage } from "./validation_messages.js";
import { PROPERTY_BY_PATH } from "./state.js";

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
