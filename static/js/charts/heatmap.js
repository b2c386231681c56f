// The engine's quantized maps (neuron activations, input features) decoded and
// painted: one canvas pixel per grid cell, on the decision boundary's colours.
// A map's cells are bytes q with value lo + q/255 (hi - lo), so a paint builds
// the 256 colours of its levels once and copies one 32-bit pixel per cell: no
// floats per cell and no allocation (one ImageData per size is reused).

import { BOUNDARY_TABLE, COLOR_STEPS } from "./colors.js";

const LEVELS = 255;
const images = new Map();
const palette = new Uint8ClampedArray(4 * (LEVELS + 1));
const palettePixels = new Uint32Array(palette.buffer);

function imageOf(size) {
  if (!images.has(size)) images.set(size, new ImageData(size, size));
  return images.get(size);
}

/** The colour table entry of ``value`` on the scale 0 white, +-``range`` full blue/orange. */
function entryOf(value, scale) {
  return 3 * Math.round(Math.min(1, Math.max(0, 0.5 + value * scale)) * COLOR_STEPS);
}

function putColor(pixels, at, entry) {
  pixels[at] = BOUNDARY_TABLE[entry];
  pixels[at + 1] = BOUNDARY_TABLE[entry + 1];
  pixels[at + 2] = BOUNDARY_TABLE[entry + 2];
  pixels[at + 3] = 255;
}

function sized(canvas, size) {
  if (canvas.width !== size) { canvas.width = size; canvas.height = size; }
  return canvas.getContext("2d");
}

/** The bytes of quantized maps ``{maps (base64)}``: ``count * size * size`` levels, map after map. */
export function mapLevels(encoded) {
  const text = atob(encoded.maps);
  const bytes = new Uint8Array(text.length);
  for (let at = 0; at < text.length; at += 1) bytes[at] = text.charCodeAt(at);
  return bytes;
}

/** Map ``index``'s values (a Float32Array of ``size * size``) from its levels. */
export function decodeMap(encoded, levels, index, size) {
  const cells = size * size;
  const lo = encoded.lo[index];
  const scale = (encoded.hi[index] - lo) / LEVELS;
  const values = new Float32Array(cells);
  for (let cell = 0; cell < cells; cell += 1) values[cell] = lo + levels[index * cells + cell] * scale;
  return values;
}

/** Quantized maps ``{lo, hi, maps (base64)}`` -> one Float32Array of ``size * size`` values per map. */
export function decodeMaps(encoded, size) {
  const levels = mapLevels(encoded);
  return encoded.lo.map((_, index) => decodeMap(encoded, levels, index, size));
}

/**
 * Paint ``values`` (rows going up the plane) into ``canvas`` on the boundary's
 * colour scale, 0 white, +-``range`` full blue/orange.
 */
export function paintMap(canvas, values, size, range) {
  const context = sized(canvas, size);
  const image = imageOf(size);
  const pixels = image.data;
  const scale = range > 0 ? 0.5 / range : 0;
  let at = 0;
  for (let row = size - 1; row >= 0; row -= 1) {
    for (let column = 0; column < size; column += 1) {
      putColor(pixels, at, entryOf(values[row * size + column], scale));
      at += 4;
    }
  }
  context.putImageData(image, 0, 0);
}

/** Paint map ``index`` of ``encoded`` straight from its ``levels``, as ``paintMap`` paints its values. */
export function paintLevels(canvas, encoded, levels, index, size, range) {
  const context = sized(canvas, size);
  const lo = encoded.lo[index];
  const step = (encoded.hi[index] - lo) / LEVELS;
  const scale = range > 0 ? 0.5 / range : 0;
  for (let level = 0; level <= LEVELS; level += 1) putColor(palette, 4 * level, entryOf(lo + level * step, scale));
  const image = imageOf(size);
  const pixels = new Uint32Array(image.data.buffer);
  const first = index * size * size;
  let at = 0;
  for (let row = size - 1; row >= 0; row -= 1) {
    const start = first + row * size;
    for (let column = 0; column < size; column += 1) pixels[at++] = palettePixels[levels[start + column]];
  }
  context.putImageData(image, 0, 0);
}
