// Redraws dirty charts from a requestAnimationFrame loop.

import { recordRedraw } from "./probes.js";

const BUSY_FRAME_MS = 8;

/**
 * A Plotly redraw is the expensive part, so at most one chart is redrawn per
 * frame, each chart at most every ``chart.redrawIntervalMs`` (default
 * ``chartIntervalMs``), and after a redraw that took d ms no chart is redrawn
 * for ``gapFactor * d`` ms: however slow the machine, drawing takes at most
 * about 1 / (1 + gapFactor) of the main thread and frames keep coming.
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
    recordRedraw(chosen.element, took);
    this.lastDrawn.set(chosen, now);
    this.quietUntil = now + Math.max(this.minGapMs, this.gapFactor * took);
  }
}
