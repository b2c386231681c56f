// The page's colour tables: series, layers, and the decision boundary's scale.

export const COLORS = {
  train: "#2f6db5", dev: "#e8833a", cost: "#8a63d2", lr: "#3a9b76", marker: "#9aa3af",
  class0: "#e8833a", class1: "#2f6db5", trainDev: "#0f766e", best: "#15803d",
};
// Classes on the plane: the two-class pair first, then a categorical palette (uploads have up to 10 classes).
export const CLASS_COLORS = [COLORS.class0, COLORS.class1, "#3a9b76", "#8a63d2", "#c2477d", "#b59a2f", "#4aa3c7",
  "#6b7280", "#8c564b", "#1e3a8a"];
export const LAYER_COLORS = ["#2f6db5", "#e8833a", "#3a9b76", "#8a63d2", "#c2477d", "#b59a2f", "#4aa3c7", "#6b7280"];
export const GHOST_COLORS = ["#7c8796", "#a16207", "#0f766e", "#9d174d", "#4338ca"];
const BOUNDARY_COLORSCALE = [[0, "#f0a56b"], [0.46, "#fbe3cf"], [0.5, "#ffffff"], [0.54, "#d5e3f4"], [1, "#6f9ed6"]];

const hexToRgb = (hex) => [1, 3, 5].map((at) => parseInt(hex.slice(at, at + 2), 16));
const BOUNDARY_STOPS = BOUNDARY_COLORSCALE.map(([at, hex]) => [at, hexToRgb(hex)]);

/** RGB of probability ``p`` on the boundary colour scale (orange = class 0, blue = class 1). */
export function boundaryColor(p) {
  const value = Math.min(1, Math.max(0, p));
  let upper = 1;
  while (upper < BOUNDARY_STOPS.length - 1 && BOUNDARY_STOPS[upper][0] < value) upper += 1;
  const [start, low] = BOUNDARY_STOPS[upper - 1];
  const [end, high] = BOUNDARY_STOPS[upper];
  const t = end === start ? 0 : (value - start) / (end - start);
  return low.map((channel, index) => Math.round(channel + t * (high[index] - channel)));
}

// boundaryColor at COLOR_STEPS + 1 evenly spaced probabilities (finer than the eye
// tells apart), then the grey of a cell with no value.
export const COLOR_STEPS = 1024;
export const BOUNDARY_TABLE = Uint8Array.from([
  ...Array.from({ length: COLOR_STEPS + 1 }, (_, step) => boundaryColor(step / COLOR_STEPS)).flat(),
  235, 235, 235,
]);
export const MISSING_ENTRY = 3 * (COLOR_STEPS + 1);


// Class regions: each class's colour mixed into white by confidence, from CLASS_FAINT (a guess
// among the classes) to CLASS_FULL (certain); the map stays light enough for the points to show.
const CLASS_FAINT = 0.12;
const CLASS_FULL = 0.75;
export const CLASS_STEPS = 255;

/** Per class, CLASS_STEPS + 1 RGB triples from the faintest to the fullest shade of its colour. */
export const CLASS_TABLES = CLASS_COLORS.map((hex) => {
  const rgb = hexToRgb(hex);
  return Uint8Array.from(Array.from({ length: CLASS_STEPS + 1 }, (_, step) => {
    const share = CLASS_FAINT + (CLASS_FULL - CLASS_FAINT) * (step / CLASS_STEPS);
    return rgb.map((channel) => Math.round(255 + share * (channel - 255)));
  }).flat());
});
