// The page's texts in the page's language: ``t(id, params)`` looks the English
// text ``id`` up in the catalog the server inlined (#i18n-messages, gettext's
// "client" domain; docs/page.md) and fills its ``{name}`` fields.  English is
// the source, so an id without a translation shows as written.
//
// A parameter may be a string or number, a message ``{id, params}`` (the
// engine's diagnosis advice nests them) or a list of messages, joined as
// "a, b or c".

let catalog = null;

function messages() {
  if (catalog === null) {
    const element = document.getElementById("i18n-messages");
    catalog = element ? JSON.parse(element.textContent) : {};
  }
  return catalog;
}

/** The page's language code ("en", "ko"), as the server set ``<html lang>``. */
export const pageLanguage = () => document.documentElement.lang || "en";

/** Marks ``id`` for the catalog where it is not translated on the spot (tables of texts). */
export const N_ = (id) => id;

function render(value) {
  if (Array.isArray(value)) {
    const items = value.map(render);
    if (items.length <= 1) return items.join("");
    return t("{rest} or {last}", { rest: items.slice(0, -1).join(", "), last: items[items.length - 1] });
  }
  if (value && typeof value === "object") return translateMessage(value);
  return String(value);
}

export function t(id, params = {}) {
  const template = messages()[id] || id;
  return template.replace(/\{(\w+)\}/g, (field, name) => (name in params ? render(params[name]) : field));
}

/** A message as the engine sends it: ``{id, params}``. */
export const translateMessage = (message) => t(message.id, message.params ?? {});
