// The engine's quantized maps (neuron activations, input features) decoded and
// painted: one canvas pixel per grid cell, on the decision boundary's colours.

import { BOUNDARY_TABLE, COLOR_STEPS } from "./colors.js";

/** Quantized maps ``{lo, hi, maps (base64)}`` -> one Float32Array of ``size * size`` values per map. */
export function decodeMaps(encoded, size) {
  const bytes = Uint8Array.from(atob(encoded.maps), (char) => char.charCodeAt(0));
  const cells = size * size;
  return encoded.lo.map((lo, index) => {
    const scale = (encoded.hi[index] - lo) / 255;
    const values = new Float32Array(cells);
    for (let cell = 0; cell < cells; cell += 1) values[cell] = lo + bytes[index * cells + cell] * scale;
    return values;
  });
}

/**
 * Paint ``values`` (rows going up the plane) into ``canvas`` on the boundary's
 * colour scale, 0 white, +-``range`` full blue/orange.
 */
export function paintMap(canvas, values, size, range) {
  if (canvas.width !== size) { canvas.width = size; canvas.height = size; }
  const context = canvas.getContext("2d");
  const image = context.createImageData(size, size);
  const pixels = image.data;
  const scale = range > 0 ? 0.5 / range : 0;
  let at = 0;
  for (let row = size - 1; row >= 0; row -= 1) {
    for (let column = 0; column < size; column += 1) {
      const p = Math.min(1, Math.max(0, 0.5 + values[row * size + column] * scale));
      const entry = 3 * Math.round(p * COLOR_STEPS);
      pixels[at] = BOUNDARY_TABLE[entry];
      pixels[at + 1] = BOUNDARY_TABLE[entry + 1];
      pixels[at + 2] = BOUNDARY_TABLE[entry + 2];
      pixels[at + 3] = 255;
      at += 4;
    }
  }
  context.putImageData(image, 0, 0);
}
