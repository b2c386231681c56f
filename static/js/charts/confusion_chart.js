// Confusion matrix of the dev set for multi-class data (rows: true class).

import { PLOT_CONFIG, baseLayout, draw, purge } from "./plotly_adapter.js";
import { StreamingChart } from "./streaming_chart.js";

export class ConfusionChart extends StreamingChart {
  constructor(element, { redrawIntervalMs = 500 } = {}) {
    super(element, redrawIntervalMs);
    this.matrix = null;
  }

  reset() { this.matrix = null; this.dirty = false; purge(this.element); }

  setMatrix(matrix) { this.matrix = matrix; this.dirty = true; }

  flush() {
    if (!this.dirty || !this.isVisible() || !this.matrix) return false;
    const labels = this.matrix.map((_, index) => String(index));
    const trace = {
      type: "heatmap", z: this.matrix, x: labels, y: labels, colorscale: [[0, "#f8fafc"], [1, "#2f6db5"]], showscale: false,
      texttemplate: "%{z}", textfont: { size: 9 },
      hovertemplate: "true %{y}, predicted %{x}: %{z}<extra></extra>",
    };
    const layout = { ...baseLayout("true class", "confusion"), hovermode: "closest", margin: { l: 44, r: 6, t: 6, b: 34 } };
    layout.xaxis = { ...layout.xaxis, title: { text: "predicted" }, type: "category" };
    layout.yaxis = { ...layout.yaxis, autorange: "reversed", type: "category" };
    draw(this.element, [trace], layout, PLOT_CONFIG);
    this.dirty = false;
    return true;
  }
}
