// Charts fed by a stream.  Plotly draws the axes, markers and zoom, and is
// called only when they change; the streamed curves are drawn on a canvas over
// Plotly's plot area.  Each chart keeps its full history in plain arrays and
// draws at most MAX_DRAWN_POINTS per trace (every stride-th point, the stride
// doubling as the run grows), so a 10,000-epoch run costs the same to draw as a
// short one.

import { LineCanvas, extent, grownXMax, grownYRange, nearestIndex } from "./canvas_lines.js";

const Plotly = () => window.Plotly;

export const MAX_DRAWN_POINTS = 600;
export const COLORS = {
  train: "#2f6db5", dev: "#e8833a", cost: "#8a63d2", lr: "#3a9b76", marker: "#9aa3af",
  class0: "#e8833a", class1: "#2f6db5",
};
const BOUNDARY_COLORSCALE = [[0, "#f0a56b"], [0.46, "#fbe3cf"], [0.5, "#ffffff"], [0.54, "#d5e3f4"], [1, "#6f9ed6"]];
const LAYER_COLORS = ["#2f6db5", "#e8833a", "#3a9b76", "#8a63d2", "#c2477d", "#b59a2f", "#4aa3c7", "#6b7280"];

const PLOT_CONFIG = {
  displaylogo: false,
  responsive: true,
  modeBarButtonsToRemove: ["select2d", "lasso2d", "toImage"],
};

function baseLayout(yTitle, uirevision) {
  return {
    uirevision,
    margin: { l: 52, r: 10, t: 8, b: 34 },
    font: { family: "system-ui, -apple-system, Segoe UI, sans-serif", size: 11, color: "#374151" },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "#ffffff",
    hovermode: "x unified",
    hoverlabel: { bgcolor: "rgba(255,255,255,0.95)", font: { size: 11 } },
    // Legends are HTML next to the plot: Plotly would lay a legend out again on every redraw.
    showlegend: false,
    xaxis: { title: { text: "epoch", standoff: 4 }, gridcolor: "#eef0f3", zeroline: false, tickangle: 0 },
    yaxis: { title: { text: yTitle, standoff: 4 }, gridcolor: "#eef0f3", zeroline: false },
    shapes: [],
    annotations: [],
  };
}

/**
 * Bias-corrected exponentially weighted average of ``values``; missing values
 * (null, NaN, infinities) are skipped and come out as NaN.  beta 0 returns the
 * values unchanged.
 */
export function smoothSeries(values, beta) {
  const out = [];
  let average = 0;
  let count = 0;
  for (const value of values) {
    if (value === null || value === undefined || !Number.isFinite(value)) { out.push(NaN); continue; }
    count += 1;
    average = beta * average + (1 - beta) * value;
    out.push(beta === 0 ? value : average / (1 - beta ** count));
  }
  return out;
}

/** Incremental form of ``smoothSeries`` for streamed points. */
class Smoother {
  constructor(beta) { this.beta = beta; this.average = 0; this.count = 0; }

  push(value) {
    if (value === null || value === undefined || !Number.isFinite(value)) return NaN;
    this.count += 1;
    this.average = this.beta * this.average + (1 - this.beta) * value;
    return this.beta === 0 ? value : this.average / (1 - this.beta ** this.count);
  }
}

/** What the frame scheduler needs of a chart: its element, visibility and redraw interval. */
class StreamingChart {
  constructor(element, redrawIntervalMs) {
    this.element = element;
    this.redrawIntervalMs = redrawIntervalMs;
    this.dirty = false;
  }

  // Cached, because asking the DOM every frame forces a layout each time; the
  // controller refreshes it when it shows or hides a chart.
  isVisible() { return this.visible ?? this.refreshVisibility(); }

  refreshVisibility() {
    this.visible = this.element.offsetParent !== null;
    return this.visible;
  }

  /** A hidden tooltip placed after ``anchor``, which ``hover(event)`` fills as the pointer moves over the chart. */
  attachTooltip(anchor) {
    this.tooltip = document.createElement("div");
    this.tooltip.className = "chart-tooltip";
    this.tooltip.dataset.testid = `${this.element.dataset.testid}-tooltip`;
    this.tooltip.hidden = true;
    anchor.after(this.tooltip);
    this.element.addEventListener("mousemove", (event) => this.hover(event));
    this.element.addEventListener("mouseleave", () => { this.tooltip.hidden = true; });
  }
}

/**
 * Line chart of several series over epochs, with optional smoothing (the raw
 * curve stays faint underneath), ghost curves of earlier runs and vertical
 * markers for live changes.
 *
 * The axes, markers and zoom are a Plotly plot; the curves are drawn on a canvas
 * over its plot area (``LineCanvas``).  Plotly is called only when a range must
 * grow (the x range doubles, the y range grows with headroom) or the figure
 * changes (a new run, smoothing, log scale, ghosts, a marker), so a streamed
 * point costs a canvas repaint, not a Plotly redraw.  The Plotly traces hold the
 * full history (the same arrays, so they are always current) but are not drawn
 * (``visible: "legendonly"``).  Hover is the canvas's own: the values at the
 * nearest epoch in a small tooltip.
 */
export class CurveChart extends StreamingChart {
  /**
   * @param {HTMLElement} element
   * @param {{series: {key: string, name: string, color: string, dash?: string}[], yTitle: string,
   *          smoothable?: boolean, logY?: boolean, ghostKeys?: string[], fromZero?: boolean,
   *          decadeTicks?: boolean, redrawIntervalMs?: number}} options
   */
  constructor(element, options) {
    super(element, options.redrawIntervalMs);
    this.options = { smoothable: true, logY: false, ghostKeys: [], ...options };
    this.legend = document.createElement("ul");
    this.legend.className = "chart-legend";
    this.legend.dataset.testid = `${element.dataset.testid}-legend`;
    element.before(this.legend);
    this.lines = new LineCanvas(element);
    this.attachTooltip(this.lines.canvas);
    this.smoothing = 0;
    this.logY = this.options.logY;
    this.ghosts = [];
    this.ghostLines = [];
    this.markers = [];
    this.revision = 0;
    this.clear();
  }

  clear() {
    this.epochs = [];
    this.raw = Object.fromEntries(this.options.series.map((series) => [series.key, []]));
    this.smooth = Object.fromEntries(this.options.series.map((series) => [series.key, []]));
    this.smoothers = Object.fromEntries(this.options.series.map((series) => [series.key, new Smoother(this.smoothing)]));
    this.stride = 1;
    this.markers = [];
    this.xRange = null;
    this.yRange = null;
    this.userZoom = false;
    this.dirty = true;
    this.needsRebuild = true;
  }

  /** Start a new run; ``series`` may change (e.g. the number of layers). */
  reset(series) {
    if (series) this.options.series = series;
    this.revision += 1;
    this.clear();
  }

  push(epoch, values) {
    this.epochs.push(epoch);
    for (const series of this.options.series) {
      const value = values[series.key];
      // A missing value is NaN, never null: arrays of numbers only keep their
      // doubles unboxed, so a long run's history is not thousands of heap
      // objects for the garbage collector to walk.  Plotly and the canvas skip NaN.
      const number = value === undefined || value === null || !Number.isFinite(value) ? NaN : value;
      this.raw[series.key].push(number);
      this.smooth[series.key].push(this.smoothers[series.key].push(number));
    }
    if (this.epochs.length > this.stride * MAX_DRAWN_POINTS) this.stride *= 2;
    this.dirty = true;
  }

  /** The epochs the run will train (null: unknown); the x axis spans them. */
  planEpochs(epochs) {
    if (epochs === this.plannedEpochs) return;
    this.plannedEpochs = epochs;
    this.dirty = true;
  }

  addMarker(epoch, label) {
    this.markers.push({ epoch, label });
    this.needsRebuild = true;
    this.dirty = true;
  }

  setSmoothing(beta) {
    if (!this.options.smoothable || beta === this.smoothing) return;
    this.smoothing = beta;
    for (const series of this.options.series) {
      this.smooth[series.key] = smoothSeries(this.raw[series.key], beta);
      const smoother = new Smoother(beta);
      for (const value of this.raw[series.key]) smoother.push(value);
      this.smoothers[series.key] = smoother;
    }
    this.ghostLines = this.makeGhostLines();
    this.needsRebuild = true;
    this.dirty = true;
  }

  setLogY(flag) {
    if (flag === this.logY) return;
    this.logY = flag;
    this.yRange = null;
    this.userZoom = false;
    this.needsRebuild = true;
    this.dirty = true;
  }

  /** Ghosts: ``[{id, label, color, epochs, values: {seriesKey: number[]}}]`` from finished runs. */
  setGhosts(ghosts) {
    if (ghosts.length === 0 && this.ghosts.length === 0) return;
    this.ghosts = ghosts;
    this.ghostLines = this.makeGhostLines();
    this.needsRebuild = true;
    this.dirty = true;
  }

  /** Full history of this run, for turning it into a ghost later. */
  snapshot() {
    return { epochs: this.epochs.slice(), values: Object.fromEntries(
      Object.entries(this.raw).map(([key, values]) => [key, values.slice()])) };
  }

  /** Ghost curves, smoothed like the current run, computed once per change of ghosts or smoothing. */
  makeGhostLines() {
    const lines = [];
    for (const ghost of this.ghosts) {
      for (const key of this.options.ghostKeys) {
        const series = this.options.series.find((candidate) => candidate.key === key);
        const values = ghost.values[key];
        if (!series || !values) continue;
        lines.push({
          name: `${ghost.label} · ${series.name}`, x: ghost.epochs,
          y: this.options.smoothable ? smoothSeries(values, this.smoothing) : values,
          stride: Math.max(1, Math.ceil(ghost.epochs.length / MAX_DRAWN_POINTS)),
          color: ghost.color, width: 1.5, dash: key === "dev" ? "dash" : "dot", alpha: 0.8,
        });
      }
    }
    return lines;
  }

  /** Draw what changed; returns false when there was nothing to do. */
  flush() {
    if (!this.dirty || !this.isVisible()) return false;
    this.dirty = false;
    if (this.needsRebuild || !this.element.classList.contains("js-plotly-plot")) this.rebuild();
    else if (!this.userZoom && this.growRanges()) this.relayout();
    this.paint();
    // The last epoch drawn, for readers of the page (tests, the benchmark).
    this.element.dataset.epochs = String(this.epochs.length ? this.epochs[this.epochs.length - 1] : "");
    return true;
  }

  showRaw() { return this.options.smoothable && this.smoothing > 0; }

  /** What the canvas strokes, bottom to top: ghosts, faint raw curves, the curves. */
  canvasLines() {
    const lines = [...this.ghostLines];
    const withRaw = this.showRaw();
    for (const series of this.options.series) {
      if (withRaw) {
        lines.push({ x: this.epochs, y: this.raw[series.key], stride: this.stride, color: series.color,
          width: 1, dash: series.dash, alpha: 0.25 });
      }
    }
    for (const series of this.options.series) {
      lines.push({ x: this.epochs, y: this.smooth[series.key], stride: this.stride, color: series.color,
        width: 2, dash: series.dash });
    }
    return lines;
  }

  /** Grow the ranges to hold every point; true when they changed. */
  growRanges() {
    const last = this.epochs.length ? this.epochs[this.epochs.length - 1] : 0;
    const ghostEnd = Math.max(0, ...this.ghostLines.map((line) => line.x[line.x.length - 1] ?? 0));
    const reach = Math.max(last, ghostEnd);
    // The run's length is known: its x axis spans it from the start and never has to move
    // (every move is a Plotly relayout); a longer ghost, or no plan, grows it in 1-2-5 steps.
    const xMax = this.plannedEpochs && reach <= this.plannedEpochs ? this.plannedEpochs : grownXMax(reach);
    const xRange = this.xRange && this.xRange[1] >= xMax ? this.xRange : [0, xMax];
    const arrays = [];
    for (const series of this.options.series) {
      arrays.push(this.smooth[series.key]);
      if (this.showRaw()) arrays.push(this.raw[series.key]);
    }
    for (const line of this.ghostLines) arrays.push(line.y);
    // Only the new points can fall outside the current range: scan them alone.
    const from = this.xRange && this.yRange ? this.scannedUntil ?? 0 : 0;
    const tail = from > 0 ? arrays.slice(0, arrays.length - this.ghostLines.length).map((values) => values.slice(from)) : arrays;
    const yRange = grownYRange(this.yRange, extent(tail, this.logY),
      { log: this.logY, fromZero: this.options.fromZero });
    this.scannedUntil = this.epochs.length;
    const changed = xRange !== this.xRange || yRange !== this.yRange;
    this.xRange = xRange;
    this.yRange = yRange;
    return changed;
  }

  /** Tell Plotly the ranges that changed (only those: each axis redrawn costs time). */
  relayout() {
    const [xRange, yRange] = this.shownRanges();
    const layout = this.element._fullLayout;
    const same = (a, b) => a && b && a[0] === b[0] && a[1] === b[1];
    const update = {};
    if (!same(layout?.xaxis?.range, xRange)) update["xaxis.range"] = xRange.slice();
    if (!same(layout?.yaxis?.range, yRange)) update["yaxis.range"] = yRange.slice();
    this.ownRanges = [xRange.slice(), yRange.slice()];
    if (Object.keys(update).length) Plotly().relayout(this.element, update);
  }

  /** The ranges shown: the user's zoom, or the grown ones (a default y range until there is data). */
  shownRanges() {
    const layout = this.element._fullLayout;
    if (this.userZoom && layout?.xaxis?.range) return [layout.xaxis.range.slice(), layout.yaxis.range.slice()];
    return [this.xRange, this.yRange ?? (this.logY ? [-1, 1] : [0, 1])];
  }

  paint() {
    if (!this.lines.place() || !this.xRange) return;
    const [xRange, yRange] = this.shownRanges();
    this.lines.draw(this.canvasLines(), xRange, yRange, this.logY);
    this.lines.canvas.dataset.epochs = this.element.dataset.epochs ?? "";
  }

  /** Plotly traces: the full history, named as in the legend, not drawn by Plotly. */
  traces() {
    const traces = [];
    const withRaw = this.showRaw();
    const hidden = { type: "scatter", mode: "lines", visible: "legendonly", showlegend: false, hoverinfo: "skip" };
    for (const series of this.options.series) {
      if (withRaw) {
        traces.push({ ...hidden, x: this.epochs, y: this.raw[series.key], name: `${series.name} (raw)`,
          line: { color: series.color, width: 1, dash: series.dash }, opacity: 0.25, legend: false });
      }
      traces.push({ ...hidden, x: this.epochs, y: this.smooth[series.key], name: series.name,
        line: { color: series.color, width: 2, dash: series.dash }, legend: true });
    }
    for (const line of this.ghostLines) {
      traces.push({ ...hidden, x: line.x, y: line.y, name: line.name,
        line: { color: line.color, width: line.width, dash: line.dash }, opacity: line.alpha, legend: true });
    }
    return traces;
  }

  layout() {
    const layout = baseLayout(this.options.yTitle, `${this.element.dataset.testid}-${this.revision}`);
    layout.hovermode = false;
    layout.yaxis.type = this.logY ? "log" : "linear";
    if (this.logY && this.options.decadeTicks) layout.yaxis.tickformat = ".0e";
    const [xRange, yRange] = this.shownRanges();
    layout.xaxis.range = xRange.slice();
    layout.yaxis.range = yRange.slice();
    layout.shapes = this.markers.map((marker) => ({
      type: "line", xref: "x", yref: "paper", x0: marker.epoch, x1: marker.epoch, y0: 0, y1: 1,
      line: { color: COLORS.marker, width: 1, dash: "dot" },
    }));
    layout.annotations = this.markers.map((marker, index) => ({
      x: marker.epoch, xref: "x", y: 1 - (index % 3) * 0.09, yref: "paper", yanchor: "top", xanchor: "left",
      text: marker.label, showarrow: false, font: { size: 10, color: "#4b5563" },
      bgcolor: "rgba(255,255,255,0.8)",
    }));
    return layout;
  }

  rebuild() {
    const plotly = Plotly();
    if (!this.userZoom) {
      this.xRange = null;
      this.yRange = null;
      this.growRanges();
    }
    const traces = this.traces();
    this.renderLegend(traces);
    const layout = this.layout();
    for (const trace of traces) delete trace.legend;
    // The figure as Plotly sees it, data aside: when only the data changed (a new run),
    // the traces take the new arrays and only the ranges are relaid out.
    const signature = JSON.stringify([layout, traces.map((trace) => [trace.name, trace.line, trace.opacity])],
      (key, value) => (key === "range" || key === "uirevision" ? undefined : value));
    const plotted = this.element.classList.contains("js-plotly-plot") && this.element.data?.length === traces.length;
    if (plotted && !this.userZoom && signature === this.signature) {
      traces.forEach((trace, index) => Object.assign(this.element.data[index], { x: trace.x, y: trace.y }));
      this.relayout();
    } else {
      this.ownRanges = [layout.xaxis.range.slice(), layout.yaxis.range.slice()];
      if (this.element.classList.contains("js-plotly-plot")) plotly.react(this.element, traces, layout, PLOT_CONFIG);
      else plotly.newPlot(this.element, traces, layout, PLOT_CONFIG);
    }
    this.signature = signature;
    if (!this.listening) {
      this.element.on("plotly_afterplot", () => this.paint());
      this.element.on("plotly_relayout", (change) => this.relayouted(change));
      this.listening = true;
    }
    this.needsRebuild = false;
    this.element.dataset.rebuilds = String(Number(this.element.dataset.rebuilds ?? 0) + 1);
  }

  /**
   * A zoom or pan by the user (``xaxis.range[0]``...): follow it and stop growing
   * the ranges.  A double-click (autorange, or Plotly's reset to the first
   * ranges, ``xaxis.range`` as a whole that is not ours): back to the grown ranges.
   */
  relayouted(change) {
    const keys = Object.keys(change ?? {});
    const layout = this.element._fullLayout;
    const same = (a, b) => a && b && Math.abs(a[0] - b[0]) < 1e-9 && Math.abs(a[1] - b[1]) < 1e-9;
    const ours = this.ownRanges && same(layout.xaxis.range, this.ownRanges[0]) && same(layout.yaxis.range, this.ownRanges[1]);
    if (ours) return;
    const reset = keys.some((key) => key.endsWith(".autorange") || key === "xaxis.range" || key === "yaxis.range");
    if (reset) {
      this.userZoom = false;
      this.xRange = null;
      this.yRange = null;
      this.growRanges();
      this.relayout();
    } else if (keys.some((key) => key.startsWith("xaxis.range[") || key.startsWith("yaxis.range["))) {
      this.userZoom = true;
      this.paint();
    }
  }

  renderLegend(traces) {
    const items = traces.filter((trace) => trace.legend).map((trace) => {
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = `swatch dash-${trace.line.dash ?? "solid"}`;
      swatch.style.borderColor = trace.line.color;
      item.append(swatch, trace.name);
      return item;
    });
    this.legend.replaceChildren(...items);
  }

  /** Values at the epoch nearest the pointer, in the tooltip. */
  hover(event) {
    const layout = this.element._fullLayout;
    const area = this.lines.area;
    if (!layout || !area || !this.epochs.length) { this.tooltip.hidden = true; return; }
    const box = this.element.getBoundingClientRect();
    const px = event.clientX - box.left - layout.xaxis._offset;
    const py = event.clientY - box.top - layout.yaxis._offset;
    if (px < 0 || py < 0 || px > area.width || py > area.height) { this.tooltip.hidden = true; return; }
    const [xRange] = this.shownRanges();
    const epoch = xRange[0] + (px / area.width) * (xRange[1] - xRange[0]);
    const index = nearestIndex(this.epochs, epoch);
    const rows = [[null, `epoch ${this.epochs[index]}`]];
    for (const series of this.options.series) rows.push([series.color, `${series.name}: ${formatValue(this.smooth[series.key][index])}`]);
    for (const line of this.ghostLines) {
      const at = nearestIndex(line.x, this.epochs[index]);
      if (at >= 0 && line.x[at] === this.epochs[index]) rows.push([line.color, `${line.name}: ${formatValue(line.y[at])}`]);
    }
    this.tooltip.replaceChildren(...rows.map(([color, text]) => {
      const row = document.createElement("div");
      if (color) {
        const swatch = document.createElement("span");
        swatch.className = "swatch";
        swatch.style.borderColor = color;
        row.append(swatch);
      }
      row.append(text);
      return row;
    }));
    this.tooltip.hidden = false;
    const left = area.left + px + 12;
    const flip = px > area.width / 2;
    this.tooltip.style.left = flip ? "" : `${left}px`;
    this.tooltip.style.right = flip ? `${this.element.parentElement.clientWidth - (area.left + px) + 12}px` : "";
    this.tooltip.style.top = `${area.top + 4}px`;
  }
}

function formatValue(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  return Number(value.toPrecision(4)).toString();
}

// How long a new run's boundary waits for its first grid before drawing the points alone.
const BOUNDARY_WAIT_MS = 1000;
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
const COLOR_STEPS = 1024;
const BOUNDARY_TABLE = Uint8Array.from([
  ...Array.from({ length: COLOR_STEPS + 1 }, (_, step) => boundaryColor(step / COLOR_STEPS)).flat(),
  235, 235, 235,
]);
const MISSING_ENTRY = 3 * (COLOR_STEPS + 1);

const POINT_HOVER_PX = 8;

/** ``[low, high]`` of ``values`` widened by ``fraction`` of its span on each side. */
function paddedExtent(values, fraction) {
  let low = Infinity;
  let high = -Infinity;
  for (const value of values) {
    if (value < low) low = value;
    if (value > high) high = value;
  }
  if (!(low <= high)) return [-1, 1];
  const pad = (high - low || 1) * fraction;
  return [low - pad, high + pad];
}

/**
 * Probability of class 1 over the plane, with the train and dev points on top.
 * The axes are a Plotly plot drawn once per run, with no traces.  Under its
 * transparent plot area lie two canvases: the probability map, a small canvas
 * repainted pixel by pixel for each ``boundary`` event (a fraction of a
 * millisecond instead of a Plotly redraw), and the points, drawn once per run
 * at the screen's resolution (some 500 Plotly markers took 60 to 300 ms to
 * draw).  Hovering names the nearest point's split and class.
 */
export class BoundaryChart extends StreamingChart {
  constructor(element, { redrawIntervalMs = 250 } = {}) {
    super(element, redrawIntervalMs);
    this.canvas = document.createElement("canvas");
    this.canvas.className = "boundary-map";
    this.canvas.dataset.testid = "boundary-map";
    this.canvas.setAttribute("aria-hidden", "true");
    this.pointsCanvas = document.createElement("canvas");
    this.pointsCanvas.className = "boundary-points";
    this.pointsCanvas.dataset.testid = "boundary-points";
    this.pointsCanvas.setAttribute("aria-hidden", "true");
    element.parentElement.classList.add("boundary-frame");
    element.before(this.canvas, this.pointsCanvas);
    this.attachTooltip(element);
    this.revision = 0;
    this.grid = null;
    this.readGrid = null;
    this.points = null;
    this.lattice = "";
    this.needsRebuild = false;
  }

  /** ``points``: ``{train: {x, y, label}, dev: {x, y, label}}`` in network coordinates. */
  reset(points) {
    this.revision += 1;
    this.points = points;
    this.grid = null;
    this.readGrid = null;
    this.lattice = "";
    this.canvas.hidden = true;
    this.pointsCanvas.width = 0;  // cleared until the new run's axes are drawn
    this.needsRebuild = true;
    this.dirty = true;
    this.waitUntil = performance.now() + BOUNDARY_WAIT_MS;
  }

  /**
   * ``read()`` gives the newest grid when the chart draws.  Grids stream faster
   * than the chart redraws; parsing only the ones drawn keeps the page from
   * making (and collecting) the garbage of all the others.
   */
  setGridSource(read) {
    this.readGrid = read;
    this.dirty = true;
  }

  /** ``grid``: ``{epoch, x (nx), y (ny), z (ny rows of nx)}``; a new lattice redraws the axes too. */
  setGrid(grid) {
    this.readGrid = null;
    const lattice = [grid.x.length, grid.x[0], grid.x[grid.x.length - 1],
      grid.y.length, grid.y[0], grid.y[grid.y.length - 1]].join(",");
    if (lattice !== this.lattice) {
      this.lattice = lattice;
      this.needsRebuild = true;
    }
    this.grid = grid;
    this.dirty = true;
  }

  flush() {
    if (!this.dirty || !this.isVisible()) return false;
    if (this.readGrid) {
      const grid = this.readGrid();
      this.readGrid = null;
      if (grid?.x?.length && grid.y?.length) this.setGrid(grid);
    }
    // A new run sends its points, then the first grid: draw the axes once, with both.
    if (this.needsRebuild && !this.grid && performance.now() < this.waitUntil) return false;
    if (this.needsRebuild || !this.element.classList.contains("js-plotly-plot")) this.rebuild();
    if (this.grid) this.paint();
    this.dirty = false;
    return true;
  }

  paint() {
    const { x, y, z, epoch } = this.grid;
    const width = x.length;
    const height = y.length;
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    const context = this.canvas.getContext("2d");
    if (this.image?.width !== width || this.image?.height !== height) this.image = context.createImageData(width, height);
    // Colours come from a table and go straight into the pixel buffer: a paint allocates nothing,
    // so streaming grids make no garbage for the collector to stop the page for.
    const pixels = this.image.data;
    const ascending = y[height - 1] > y[0];
    let at = 0;
    for (let row = 0; row < height; row += 1) {
      const values = z[ascending ? height - 1 - row : row];  // canvas rows run top to bottom
      for (let column = 0; column < width; column += 1) {
        const value = values[column];
        const entry = value === null ? MISSING_ENTRY : 3 * Math.round(Math.min(1, Math.max(0, value)) * COLOR_STEPS);
        pixels[at] = BOUNDARY_TABLE[entry];
        pixels[at + 1] = BOUNDARY_TABLE[entry + 1];
        pixels[at + 2] = BOUNDARY_TABLE[entry + 2];
        pixels[at + 3] = 255;
        at += 4;
      }
    }
    context.putImageData(this.image, 0, 0);
    this.canvas.dataset.epoch = String(epoch);
    this.canvas.hidden = false;
  }

  /** Put both canvases exactly under Plotly's plot area (map cell centres on the grid's coordinates). */
  placeCanvas() {
    const layout = this.element._fullLayout;
    if (!layout) return;
    const { xaxis, yaxis } = layout;
    const box = {
      left: `${this.element.offsetLeft + xaxis._offset}px`, top: `${this.element.offsetTop + yaxis._offset}px`,
      width: `${xaxis._length}px`, height: `${yaxis._length}px`,
    };
    Object.assign(this.canvas.style, box);
    Object.assign(this.pointsCanvas.style, box);
    this.paintPoints();
  }

  /** The plot area's ranges and size, and data-to-pixel maps, from Plotly's laid-out axes. */
  plotArea() {
    const layout = this.element._fullLayout;
    if (!layout?.xaxis?.range || !layout.xaxis._length) return null;
    const { xaxis, yaxis } = layout;
    const [x0, x1] = xaxis.range;
    const [y0, y1] = yaxis.range;
    const width = xaxis._length;
    const height = yaxis._length;
    return {
      width, height,
      left: this.element.offsetLeft + xaxis._offset, top: this.element.offsetTop + yaxis._offset,
      px: (x) => ((x - x0) / (x1 - x0)) * width,
      py: (y) => ((y1 - y) / (y1 - y0)) * height,
    };
  }

  /** Train points as white-rimmed dots, dev points as crosses, coloured by class. */
  paintPoints() {
    const area = this.plotArea();
    const canvas = this.pointsCanvas;
    if (!area) return;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(area.width * ratio);
    canvas.height = Math.round(area.height * ratio);
    const context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, area.width, area.height);
    const train = this.points?.train;
    const dev = this.points?.dev;
    // One path per split and class: the points of a path share its colours.
    const trace = (points, label, mark) => {
      context.beginPath();
      points.x.forEach((x, index) => {
        if (points.label[index] === label) mark(area.px(x), area.py(points.y[index]));
      });
    };
    const classColor = (label) => (label === 1 ? COLORS.class1 : COLORS.class0);
    if (train) {
      context.lineWidth = 0.6;
      context.strokeStyle = "#ffffff";
      for (const label of [0, 1]) {
        context.fillStyle = classColor(label);
        trace(train, label, (cx, cy) => {
          context.moveTo(cx + 2.5, cy);
          context.arc(cx, cy, 2.5, 0, 2 * Math.PI);
        });
        context.fill();
        context.stroke();
      }
    }
    if (dev) {
      context.lineWidth = 1.4;
      for (const label of [0, 1]) {
        context.strokeStyle = classColor(label);
        trace(dev, label, (cx, cy) => {
          context.moveTo(cx - 2.5, cy - 2.5);
          context.lineTo(cx + 2.5, cy + 2.5);
          context.moveTo(cx + 2.5, cy - 2.5);
          context.lineTo(cx - 2.5, cy + 2.5);
        });
        context.stroke();
      }
    }
    canvas.dataset.points = String((train?.x.length ?? 0) + (dev?.x.length ?? 0));
  }

  /** The nearest point within a few pixels of the pointer: its split and class, in the tooltip. */
  hover(event) {
    const area = this.plotArea();
    if (!area || !this.points) { this.tooltip.hidden = true; return; }
    // Positions inside the frame count from its padding edge, inside its border.
    const frame = this.element.parentElement;
    const box = frame.getBoundingClientRect();
    const pointerX = event.clientX - box.left - frame.clientLeft - area.left;
    const pointerY = event.clientY - box.top - frame.clientTop - area.top;
    let best = null;
    let bestDistance = POINT_HOVER_PX ** 2;
    for (const split of ["train", "dev"]) {
      const points = this.points[split];
      if (!points) continue;
      points.x.forEach((x, index) => {
        const px = area.px(x);
        const py = area.py(points.y[index]);
        const distance = (px - pointerX) ** 2 + (py - pointerY) ** 2;
        if (distance < bestDistance) {
          bestDistance = distance;
          best = { split, label: points.label[index], x: px, y: py };
        }
      });
    }
    if (!best) { this.tooltip.hidden = true; return; }
    this.tooltip.textContent = `${best.split}: class ${best.label}`;
    this.tooltip.hidden = false;
    this.tooltip.style.left = `${area.left + best.x + 10}px`;
    this.tooltip.style.top = `${area.top + best.y + 10}px`;
  }

  rebuild() {
    const layout = {
      ...baseLayout("", `boundary-${this.revision}`),
      hovermode: false, plot_bgcolor: "rgba(0,0,0,0)", margin: { l: 30, r: 6, t: 6, b: 24 },
    };
    const span = (values) => {
      const step = values.length > 1 ? (values[values.length - 1] - values[0]) / (values.length - 1) : 1;
      return [values[0] - step / 2, values[values.length - 1] + step / 2].sort((a, b) => a - b);
    };
    const all = (axis) => ["train", "dev"].flatMap((split) => this.points?.[split]?.[axis] ?? []);
    // The canvases under the plot area do not follow a zoom: the axes stay put.
    const axis = { title: { text: "" }, showgrid: false, zeroline: false, constrain: "domain", tickangle: 0,
      fixedrange: true };
    layout.xaxis = { ...axis, range: this.grid ? span(this.grid.x) : paddedExtent(all("x"), 0.05) };
    layout.yaxis = { ...axis, scaleanchor: "x", scaleratio: 1,
      range: this.grid ? span(this.grid.y) : paddedExtent(all("y"), 0.05) };
    // Fixed axes and no traces: the mode bar would have nothing to offer.
    Plotly().react(this.element, [], layout, { ...PLOT_CONFIG, displayModeBar: false });
    if (!this.listening) {
      this.element.on("plotly_afterplot", () => this.placeCanvas());
      this.listening = true;
    }
    this.placeCanvas();
    this.needsRebuild = false;
  }
}

/** Confusion matrix of the dev set for the digits (rows: true class). */
export class ConfusionChart extends StreamingChart {
  constructor(element, { redrawIntervalMs = 500 } = {}) {
    super(element, redrawIntervalMs);
    this.matrix = null;
    this.dirty = false;
  }

  reset() { this.matrix = null; this.dirty = false; Plotly().purge(this.element); }

  setMatrix(matrix) { this.matrix = matrix; this.dirty = true; }


  flush() {
    if (!this.dirty || !this.isVisible() || !this.matrix) return false;
    const labels = this.matrix.map((_, index) => String(index));
    const trace = {
      type: "heatmap", z: this.matrix, x: labels, y: labels, colorscale: [[0, "#f8fafc"], [1, "#2f6db5"]], showscale: false,
      texttemplate: "%{z}", textfont: { size: 9 },
      hovertemplate: "true %{y}, predicted %{x}: %{z}<extra></extra>",
    };
    const layout = { ...baseLayout("true digit", "confusion"), hovermode: "closest", margin: { l: 44, r: 6, t: 6, b: 34 } };
    layout.xaxis = { ...layout.xaxis, title: { text: "predicted" }, type: "category" };
    layout.yaxis = { ...layout.yaxis, autorange: "reversed", type: "category" };
    Plotly().react(this.element, [trace], layout, PLOT_CONFIG);
    this.dirty = false;
    return true;
  }
}

export function layerSeries(count) {
  return Array.from({ length: count }, (_, index) => ({
    key: `layer${index + 1}`, name: index === count - 1 ? `W[${index + 1}] (output)` : `W[${index + 1}]`,
    color: LAYER_COLORS[index % LAYER_COLORS.length],
  }));
}

const BUSY_FRAME_MS = 8;

/**
 * Redraws dirty charts from a requestAnimationFrame loop.  A Plotly redraw is
 * the expensive part, so at most one chart is redrawn per frame, each chart at
 * most every ``chart.redrawIntervalMs`` (default ``chartIntervalMs``), and after a redraw that took d ms no chart is
 * redrawn for ``gapFactor * d`` ms: however slow the machine, drawing takes at
 * most about 1 / (1 + gapFactor) of the main thread and frames keep coming.
 * ``onFrame`` runs every frame for cheap text updates; when it took more than
 * BUSY_FRAME_MS, the frame's chart waits for the next frame.
 */
export class FrameScheduler {
  constructor(charts, { chartIntervalMs = 200, minGapMs = 40, gapFactor = 3, onFrame = () => {} } = {}) {
    this.charts = charts;
    this.chartIntervalMs = chartIntervalMs;
    this.minGapMs = minGapMs;
    this.gapFactor = gapFactor;
    this.onFrame = onFrame;
    this.lastDrawn = new Map();
    this.quietUntil = 0;
    this.pending = false;
    // Draw the empty charts now, so that starting a run only updates them.
    this.request();
  }

  request() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame((now) => this.frame(now));
  }

  frame(now) {
    this.pending = false;
    const started = performance.now();
    this.onFrame();
    const waiting = this.charts.some((chart) => chart.dirty && chart.isVisible());
    // A frame whose text updates took long leaves its chart to the next frame (once: charts must keep coming).
    const busy = performance.now() - started > BUSY_FRAME_MS && !this.deferred;
    this.deferred = busy;
    if (waiting && !busy && now >= this.quietUntil) this.drawOne(now);
    if (this.charts.some((chart) => chart.dirty && chart.isVisible())) this.request();
  }

  /** Redraw the dirty chart that has waited longest, so that slow machines keep the charts in step. */
  drawOne(now) {
    let chosen = null;
    let chosenAt = Infinity;
    for (const chart of this.charts) {
      if (!chart.dirty || !chart.isVisible()) continue;
      const drawnAt = this.lastDrawn.get(chart) ?? -Infinity;
      if (now - drawnAt < (chart.redrawIntervalMs ?? this.chartIntervalMs)) continue;
      if (drawnAt < chosenAt) {
        chosen = chart;
        chosenAt = drawnAt;
      }
    }
    if (!chosen) return;
    const started = performance.now();
    chosen.flush();
    const took = performance.now() - started;
    // Redraw count, total and longest milliseconds, for readers of the page (the benchmark).
    const [count, total, longest] = (chosen.element.dataset.redraws ?? "0,0,0").split(",").map(Number);
    chosen.element.dataset.redraws = `${count + 1},${(total + took).toFixed(1)},${Math.max(longest, took).toFixed(1)}`;
    this.lastDrawn.set(chosen, now);
    this.quietUntil = now + Math.max(this.minGapMs, this.gapFactor * took);
  }

}
