// "Open in playground": a link whose fragment is the playground's own URL
// state (static/js/state.js), so the playground opens with the trial's config.

import { PROPERTIES, getPath } from "../js/state.js";

/**
 * The playground fragment for a full run config.  Pacing is left out when the
 * config is unpaced (trials always are), so the playground keeps its
 * watchable default speed instead of finishing before anyone sees a curve.
 */
export function playgroundFragment(config) {
  const pairs = [];
  for (const property of PROPERTIES) {
    if (property.scope !== "config") continue;
    const value = getPath(config, property.path);
    if (value === undefined) continue;
    if (property.key === "speed" && value === null) continue;
    pairs.push(`${property.key}=${encodeURIComponent(property.type.toUrl(value))}`);
  }
  return pairs.join("&");
}

export function playgroundHref(config) {
  return `/#${playgroundFragment(config)}`;
}
