// Line drawing for streamed charts: the axes are a Plotly plot, redrawn only when
// a range changes; the curves are drawn on a canvas laid exactly over Plotly's
// plot area, which costs a millisecond or two instead of a Plotly redraw.

import { plotArea } from "./plotly_adapter.js";

const DASHES = { solid: [], dot: [2, 3], dash: [6, 4] };

/** Smallest of 10, 20, 50, 100, 200, 500, ... that is >= ``value``: the x range grows in steps of 2 to 2.5. */
export function grownXMax(value) {
  let decade = 10;
  for (;;) {
    for (const step of [1, 2, 5]) if (step * decade >= value) return step * decade;
    decade *= 10;
  }
}

/** [min, max] of the finite (and, on a log axis, positive) values of ``arrays``; null when there are none. */
export function extent(arrays, log) {
  let low = Infinity;
  let high = -Infinity;
  for (const values of arrays) {
    for (let i = 0; i < values.length; i += 1) {
      const value = values[i];
      if (value === null || !Number.isFinite(value) || (log && value <= 0)) continue;
      if (value < low) low = value;
      if (value > high) high = value;
    }
  }
  return low <= high ? [low, high] : null;
}

// How far a linear range that must grow goes past the data, in spans: each growth is a
// Plotly relayout (10 to 40 ms), so a falling loss or a rising accuracy grows in a few long steps.
const GROWTH = 0.2;

/**
 * The y range (in axis units: log10 on a log axis) that holds ``dataExtent``:
 * ``current`` when it already does, otherwise grown with headroom so that the
 * next points rarely need another relayout (a linear range grows only on the
 * side the data left, and not below 0 for data that are not negative, beyond
 * the first fit's 8 %).  Null while there is nothing to hold.
 */
export function grownYRange(current, dataExtent, { log = false, fromZero = false } = {}) {
  if (!dataExtent) return current;
  let [low, high] = log ? dataExtent.map(Math.log10) : dataExtent;
  if (fromZero && !log) low = Math.min(0, low);
  if (current && current[0] <= low && current[1] >= high) return current;
  if (log) {
    // Whole half-decades past the data; a range that must grow moves only on the
    // side the data left, half a decade further, as a linear one grows by GROWTH.
    if (!current) return [Math.floor(low * 2 - 0.3) / 2, Math.ceil(high * 2 + 0.3) / 2];
    return [low < current[0] ? Math.floor(low * 2 - 1.3) / 2 : current[0],
      high > current[1] ? Math.ceil(high * 2 + 1.3) / 2 : current[1]];
  }
  const span = Math.max(high, current?.[1] ?? high) - Math.min(low, current?.[0] ?? low) || Math.abs(high) || 1;
  const fitted = [low - 0.08 * span, high + 0.08 * span];
  if (fromZero && low >= 0) fitted[0] = 0;
  if (!current) return fitted;
  const grown = current.slice();
  if (low < current[0]) grown[0] = low >= 0 ? Math.max(low - GROWTH * span, Math.min(0, fitted[0])) : low - GROWTH * span;
  if (high > current[1]) grown[1] = high + GROWTH * span;
  return grown;
}

/** Index of the value of sorted ``values`` nearest to ``target``. */
export function nearestIndex(values, target) {
  let low = 0;
  let high = values.length - 1;
  if (high < 0) return -1;
  while (high - low > 1) {
    const middle = (low + high) >> 1;
    if (values[middle] <= target) low = middle; else high = middle;
  }
  return Math.abs(values[high] - target) < Math.abs(values[low] - target) ? high : low;
}

/**
 * A devicePixelRatio-aware canvas over the plot area of a Plotly chart.
 * ``place(element)`` follows the rendered axes; ``draw(lines, xRange, yRange, log)``
 * strokes ``[{x, y, stride, color, width, dash, alpha}]`` in axis units.
 */
export class LineCanvas {
  constructor(element) {
    this.element = element;
    this.canvas = document.createElement("canvas");
    this.canvas.className = "curve-canvas";
    this.canvas.dataset.testid = `${element.dataset.testid}-canvas`;
    this.canvas.setAttribute("aria-hidden", "true");
    element.parentElement.classList.add("curve-frame");
    element.after(this.canvas);
    this.area = null;
  }

  /** Lay the canvas over Plotly's plot area; returns false before the first plot. */
  place() {
    const plot = plotArea(this.element);
    if (!plot) return false;
    const ratio = window.devicePixelRatio || 1;
    const area = { left: plot.left, top: plot.top, width: plot.width, height: plot.height, ratio };
    const previous = this.area;
    if (!previous || Object.keys(area).some((key) => area[key] !== previous[key])) {
      Object.assign(this.canvas.style, {
        left: `${area.left}px`, top: `${area.top}px`, width: `${area.width}px`, height: `${area.height}px`,
      });
      this.canvas.width = Math.round(area.width * ratio);
      this.canvas.height = Math.round(area.height * ratio);
      this.area = area;
    }
    return true;
  }

  draw(lines, xRange, yRange, log) {
    if (!this.area) return;
    const { width, height, ratio } = this.area;
    const context = this.canvas.getContext("2d");
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.clearRect(0, 0, this.canvas.width, this.canvas.height);
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.lineJoin = "round";
    context.lineCap = "round";
    const [x0, x1] = xRange;
    const [y0, y1] = yRange;
    const xScale = width / (x1 - x0 || 1);
    const yScale = height / (y1 - y0 || 1);
    for (const line of lines) {
      const { x, y } = line;
      const stride = line.stride ?? 1;
      context.beginPath();
      context.strokeStyle = line.color;
      context.globalAlpha = line.alpha ?? 1;
      context.lineWidth = line.width ?? 2;
      context.setLineDash(DASHES[line.dash ?? "solid"] ?? []);
      let pen = false;
      const last = x.length - 1;
      for (let i = 0; i <= last; i = i < last && i + stride > last ? last : i + stride) {
        const value = y[i];
        if (value === null || value === undefined || !Number.isFinite(value) || (log && value <= 0)) {
          pen = false;
        } else {
          const px = (x[i] - x0) * xScale;
          const py = height - ((log ? Math.log10(value) : value) - y0) * yScale;
          if (pen) context.lineTo(px, py); else context.moveTo(px, py);
          pen = true;
        }
        if (i === last) break;
      }
      context.stroke();
    }
    context.globalAlpha = 1;
  }
}
