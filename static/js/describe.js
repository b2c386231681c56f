// Words for what changed: the label of a live-change marker ("α 0.05") and the
// name of a ghost run by what sets it apart from the current settings ("Adam, α 0.1").

import { t } from "./i18n.js";
import { PROPERTIES, getPath } from "./state.js";
import { labelFor } from "./views/form.js";

/** "12.3%" for 0.123, "–" for no value; a rounded-away negative shows as 0.0%, never "-0.0%". */
export function percent(value) {
  if (value === null || value === undefined) return "–";
  const text = (100 * value).toFixed(1);
  return `${text === "-0.0" ? "0.0" : text}%`;
}

const IGNORED_IN_COMPARISON = new Set(["speed", "reportEvery", "boundaryEvery"]);
const PACING = "training.epochs_per_second";

/**
 * "α 0.05, L2 0.1, keep[2] 0.5" for an ``update`` event's ``changes``; ``symbols``
 * maps a live field's path to its display symbol (the schema's ``x-symbol``).
 * Pacing changes are not worth a marker.
 */
export function describeChanges(changes, symbols) {
  const parts = [];
  for (const [section, values] of Object.entries(changes ?? {})) {
    if (section === "model") {
      (values.hidden ?? []).forEach((layer, index) => {
        if (layer && layer.keep_prob !== undefined) parts.push(`keep[${index + 1}] ${layer.keep_prob}`);
      });
      continue;
    }
    for (const [name, value] of Object.entries(values ?? {})) {
      const path = `${section}.${name}`;
      if (path === PACING) continue;
      parts.push(`${symbols.get(path) ?? name} ${value}`);
    }
  }
  return parts.join(", ");
}

function formatProperty(property, value, symbols) {
  const { key } = property;
  if (key === "optimizer") return labelFor(value);
  if (key === "layers") {
    if (value.length === 0) return t("no hidden layer");
    return `layers ${value.map((layer) => `${layer.units}${layer.batch_norm ? "bn" : ""}`
      + `${layer.keep_prob < 1 ? `·k${layer.keep_prob}` : ""}`).join("-")} ${labelFor(value[0].activation)}`;
  }
  if (key === "dataset" || key === "init" || key === "schedule") return labelFor(value);
  const short = symbols.get(property.path) ?? { labelNoise: "label noise", trainDev: "train-dev" }[key] ?? key;
  return `${short} ${value === null ? t("off") : value}`;
}

/** What sets ``config`` apart from ``reference``, in a few words ("Adam, α 0.1"); ``symbols`` as above. */
export function describeDifference(config, reference, symbols) {
  const parts = [];
  for (const property of PROPERTIES) {
    if (property.scope !== "config" || IGNORED_IN_COMPARISON.has(property.key)) continue;
    const mine = getPath(config, property.path);
    if (JSON.stringify(mine) !== JSON.stringify(getPath(reference, property.path))) {
      parts.push(formatProperty(property, mine, symbols));
    }
  }
  if (parts.length === 0) return t("same settings");
  return parts.length > 3 ? `${parts.slice(0, 3).join(", ")} +${parts.length - 3}` : parts.join(", ");
}
