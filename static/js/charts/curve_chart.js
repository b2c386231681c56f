// Line chart of several series over epochs (or iterations), fed by a stream.
//
// The axes, markers and zoom are a Plotly plot; the curves are drawn on a canvas
// over its plot area (``LineCanvas``).  Plotly is called only when a range must
// grow or the figure changes (a new run, smoothing, log scale, ghosts, a
// marker), so a streamed point costs a canvas repaint, not a Plotly redraw.  The
// Plotly traces hold the full history (the same arrays, so they are always
// current) but are not drawn (``visible: "legendonly"``).  Each trace is drawn
// with at most MAX_DRAWN_POINTS points (every stride-th, the stride doubling as
// the run grows), so a 10,000-epoch run costs as much to draw as a short one.
// Past MAX_KEPT_POINTS the history itself keeps every other point (and from
// then on one point in two, four ...): a long stochastic run's mini-batch
// costs (up to 256 a report) stay a few megabytes, in its ghost too.

import { t } from "../i18n.js";
import { COLORS } from "./colors.js";
import { LineCanvas, extent, grownXMax, grownYRange, nearestIndex } from "./line_canvas.js";
import { lastingLogTicks } from "./log_ticks.js";
import {
  axisRanges, baseLayout, draw, isPlotted, onPlotEvent, plotArea, plottedTraces, relayout, replaceTraceData,
  yTickValues,
} from "./plotly_adapter.js";
import { recordDrawn, recordRebuild } from "./probes.js";
import { Smoother, smoothSeries } from "./smoothing.js";
import { StreamingChart } from "./streaming_chart.js";

export const MAX_DRAWN_POINTS = 600;
export const MAX_KEPT_POINTS = 2 ** 17;

const toNumber = (value) => (value === undefined || value === null || !Number.isFinite(value) ? NaN : value);

function formatValue(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  return Number(value.toPrecision(4)).toString();
}

export class CurveChart extends StreamingChart {
  /**
   * @param {HTMLElement} element
   * @param {{series: {key: string, name: string, color: string, dash?: string}[], yTitle: string,
   *          xTitle?: string, smoothable?: boolean, logY?: boolean, ghostKeys?: string[], fromZero?: boolean,
   *          decadeTicks?: boolean, redrawIntervalMs?: number}} options
   */
  constructor(element, options) {
    super(element, options.redrawIntervalMs);
    this.options = { smoothable: true, logY: false, ghostKeys: [], xTitle: "epoch", ...options };
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
    this.keepEvery = 1;  // points pushed per point kept
    this.pushed = 0;
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
    if (this.epochs.length === 0) this.needsRebuild = true;  // the idle hint goes
    // Every value goes through the smoother, so a kept point's smoothed value
    // is the average of everything before it, kept or not.
    const kept = this.pushed % this.keepEvery === 0;
    this.pushed += 1;
    if (kept) this.epochs.push(epoch);
    for (const series of this.options.series) {
      // A missing value is NaN, never null: arrays of numbers only keep their
      // doubles unboxed, so a long run's history is not thousands of heap
      // objects for the garbage collector to walk.  Plotly and the canvas skip NaN.
      const number = toNumber(values[series.key]);
      const smoothed = this.smoothers[series.key].push(number);
      if (!kept) continue;
      this.raw[series.key].push(number);
      this.smooth[series.key].push(smoothed);
    }
    if (this.epochs.length > MAX_KEPT_POINTS) this.thin();
    if (this.epochs.length > this.stride * MAX_DRAWN_POINTS) this.stride *= 2;
    this.dirty = true;
  }

  /** Keep every other point of the history, and from now on one of twice as many pushed. */
  thin() {
    const everyOther = (values) => values.filter((_, index) => index % 2 === 0);
    this.epochs = everyOther(this.epochs);
    for (const series of this.options.series) {
      this.raw[series.key] = everyOther(this.raw[series.key]);
      this.smooth[series.key] = everyOther(this.smooth[series.key]);
    }
    this.keepEvery *= 2;
    this.stride = Math.max(1, this.stride / 2);
    this.needsRebuild = true;  // the Plotly traces hold the old arrays
  }

  /** The epochs the run will train (null: unknown); the x axis spans them. */
  planEpochs(epochs) {
    if (epochs === this.plannedEpochs) return;
    this.plannedEpochs = epochs;
    this.dirty = true;
  }

  /** A dotted vertical line at ``epoch`` with ``label``; ``kind`` "best" draws it solid and green. */
  addMarker(epoch, label, kind = "update") {
    this.markers.push({ epoch, label, kind });
    this.needsRebuild = true;
    this.dirty = true;
  }

  setSmoothing(beta) {
    if (!this.options.smoothable || beta === this.smoothing) return;
    this.smoothing = beta;
    // A kept point stands for ``keepEvery`` pushed ones: smoothing over kept
    // points by beta ** keepEvery weighs the past as beta did over all of them.
    // One pass gives the curve and the smoother that goes on from its end,
    // which then takes every pushed value by beta, as if it had seen them all.
    for (const series of this.options.series) {
      const smoother = new Smoother(beta ** this.keepEvery);
      this.smooth[series.key] = Array.from(this.raw[series.key], (value) => smoother.push(value));
      smoother.beta = beta;
      smoother.count *= this.keepEvery;
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
    if (this.needsRebuild || !isPlotted(this.element)) this.rebuild();
    else if (!this.userZoom && this.growRanges()) this.relayout();
    this.paint();
    recordDrawn([this.element], this.epochs.length ? this.epochs[this.epochs.length - 1] : "");
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
        width: series.width ?? 2, dash: series.dash });
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
    const current = axisRanges(this.element);
    const same = (a, b) => a && b && a[0] === b[0] && a[1] === b[1];
    const update = {};
    if (!same(current?.x, xRange)) update["xaxis.range"] = xRange.slice();
    if (!same(current?.y, yRange)) {
      update["yaxis.range"] = yRange.slice();
      // New ticks make Plotly redraw every axis, a range only the axis that moved:
      // the ticks go with the range only when they change (see ``lastingLogTicks``).
      const { tickvals, ticktext } = this.logY ? this.logTicks(yRange) : {};
      const shown = yTickValues(this.element);
      if (tickvals && !(shown && shown.length === tickvals.length && shown.every((value, i) => value === tickvals[i]))) {
        Object.assign(update, { "yaxis.tickvals": tickvals, "yaxis.ticktext": ticktext });
      }
    }
    this.ownRanges = [xRange.slice(), yRange.slice()];
    if (Object.keys(update).length) relayout(this.element, update);
  }

  /** The ranges shown: the user's zoom, or the grown ones (a default y range until there is data). */
  shownRanges() {
    const current = this.userZoom ? axisRanges(this.element) : null;
    if (current) return [current.x, current.y];
    return [this.xRange, this.yRange ?? (this.logY ? [-1, 1] : [0, 1])];
  }

  /** The log axis's ticks for ``range`` (kept as the range grows); ``decadeTicks`` charts always write exponents. */
  logTicks(range) {
    return { tickmode: "array", ...lastingLogTicks(range, { exponent: Boolean(this.options.decadeTicks) }) };
  }

  paint() {
    if (!this.lines.place() || !this.xRange) return;
    const [xRange, yRange] = this.shownRanges();
    this.lines.draw(this.canvasLines(), xRange, yRange, this.logY);
    recordDrawn([this.lines.canvas], this.element.dataset.epochs ?? "");
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
    layout.xaxis.title.text = this.options.xTitle;
    layout.yaxis.type = this.logY ? "log" : "linear";
    const [xRange, yRange] = this.shownRanges();
    layout.xaxis.range = xRange.slice();
    layout.yaxis.range = yRange.slice();
    if (this.logY) Object.assign(layout.yaxis, this.logTicks(yRange));
    const best = (marker) => marker.kind === "best";
    layout.shapes = this.markers.map((marker) => ({
      type: "line", xref: "x", yref: "paper", x0: marker.epoch, x1: marker.epoch, y0: 0, y1: 1,
      line: best(marker) ? { color: COLORS.best, width: 1.5 } : { color: COLORS.marker, width: 1, dash: "dot" },
    }));
    layout.annotations = this.markers.map((marker, index) => ({
      x: marker.epoch, xref: "x", y: best(marker) ? 0.02 : 1 - (index % 3) * 0.09, yref: "paper",
      yanchor: best(marker) ? "bottom" : "top", xanchor: "left",
      text: marker.label, showarrow: false, font: { size: 10, color: best(marker) ? COLORS.best : "#4b5563" },
      bgcolor: "rgba(255,255,255,0.8)",
    }));
    // An idle chart still has its axes; the hint says what will come.
    if (this.epochs.length === 0 && this.ghostLines.length === 0) {
      layout.annotations.push({ text: t("Train to draw the curves"), xref: "paper", yref: "paper", x: 0.5, y: 0.5,
        showarrow: false, font: { size: 12, color: "#9aa3af" }, name: "idle-hint" });
    }
    return layout;
  }

  rebuild() {
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
    const sameTraces = isPlotted(this.element) && plottedTraces(this.element).length === traces.length;
    if (sameTraces && !this.userZoom && signature === this.signature) {
      replaceTraceData(this.element, traces);
      this.relayout();
    } else {
      this.ownRanges = [layout.xaxis.range.slice(), layout.yaxis.range.slice()];
      draw(this.element, traces, layout);
    }
    this.signature = signature;
    if (!this.listening) {
      onPlotEvent(this.element, "plotly_afterplot", () => this.paint());
      onPlotEvent(this.element, "plotly_relayout", (change) => this.relayouted(change));
      this.listening = true;
    }
    this.needsRebuild = false;
    recordRebuild(this.element);
  }

  /**
   * A zoom or pan by the user (``xaxis.range[0]``...): follow it and stop growing
   * the ranges.  A double-click (autorange, or Plotly's reset to the first
   * ranges, ``xaxis.range`` as a whole that is not ours): back to the grown ranges.
   */
  relayouted(change) {
    const keys = Object.keys(change ?? {});
    const current = axisRanges(this.element);
    const same = (a, b) => a && b && Math.abs(a[0] - b[0]) < 1e-9 && Math.abs(a[1] - b[1]) < 1e-9;
    const ours = this.ownRanges && same(current?.x, this.ownRanges[0]) && same(current?.y, this.ownRanges[1]);
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
    const plot = plotArea(this.element);
    const area = this.lines.area;
    if (!plot || !area || !this.epochs.length) { this.hideTooltip(); return; }
    const box = this.element.getBoundingClientRect();
    const px = event.clientX - box.left - plot.offsetX;
    const py = event.clientY - box.top - plot.offsetY;
    if (px < 0 || py < 0 || px > area.width || py > area.height) { this.hideTooltip(); return; }
    const [xRange] = this.shownRanges();
    const epoch = xRange[0] + (px / area.width) * (xRange[1] - xRange[0]);
    const index = nearestIndex(this.epochs, epoch);
    const rows = [[null, `${this.options.xTitle} ${this.epochs[index]}`]];
    for (const series of this.options.series) rows.push([series.color, `${series.name}: ${formatValue(this.smooth[series.key][index])}`]);
    for (const line of this.ghostLines) {
      const at = nearestIndex(line.x, this.epochs[index]);
      if (at >= 0 && line.x[at] === this.epochs[index]) rows.push([line.color, `${line.name}: ${formatValue(line.y[at])}`]);
    }
    const flip = px > area.width / 2;
    this.showTooltip(rows, {
      left: flip ? "" : `${area.left + px + 12}px`,
      right: flip ? `${this.element.parentElement.clientWidth - (area.left + px) + 12}px` : "",
      top: `${area.top + 4}px`,
    });
  }
}
