// The two result charts: objective against the learning rate (log x axis for
// a log-scale parameter) and parallel coordinates over every searched
// hyperparameter.  Each redraw is a whole Plotly.react of at most a few
// hundred points; the page calls it at most once per animation frame.

import { N_, t } from "../js/i18n.js";
import { NUMBER_TEMPLATE, drawChart } from "../labs/plotting.js";
import { formatValue } from "./params.js";

const LOG_DISTRIBUTIONS = new Set(["log_uniform", "int_log_uniform"]);
export const OBJECTIVE_LABEL = { dev_accuracy: N_("dev accuracy"), dev_loss: N_("dev loss") };
// What breaks ties in each objective (as the server ranks: docs/search.md, Ranking).
export const TIE_BREAK = { dev_accuracy: "dev_loss", dev_loss: "dev_accuracy" };
const LAYOUT = {
  template: NUMBER_TEMPLATE,
  margin: { l: 56, r: 16, t: 12, b: 48 },
  paper_bgcolor: "rgba(0,0,0,0)",
  plot_bgcolor: "#fbfcfd",
  font: { size: 12 },
  showlegend: true,
  legend: { orientation: "h", y: -0.25 },
};
// Earlier rounds of a coarse-to-fine search, oldest first: hollow markers in their own colours.
const ROUND_COLORS = ["#7b8794", "#b08a2e", "#3a9b76", "#8a63d2"];
// An accuracy axis narrower than this would make a difference of a few dev examples fill the chart.
const MIN_ACCURACY_SPAN = 0.05;

/** The parameter drawn on the scatter's x axis: the learning rate when searched, else the first numeric one. */
export function scatterAxis(definition) {
  const space = definition.space;
  const numeric = Object.keys(space).filter((path) => space[path].distribution !== "choice");
  const path = "optimizer.learning_rate" in space ? "optimizer.learning_rate" : numeric[0] ?? Object.keys(space)[0];
  const distribution = space[path]?.distribution;
  return { path, log: LOG_DISTRIBUTIONS.has(distribution), beta: distribution === "one_minus_log_uniform" };
}

/** One parcoords dimension per searched path: log-scale ones as log10 with real-valued tick labels. */
export function parcoordsDimension(path, distribution, trials) {
  const values = trials.map((trial) => trial.config[path]);
  if (distribution.distribution === "choice") {
    const labels = distribution.values.map(String);
    return { label: path, values: values.map((value) => labels.indexOf(String(value))),
      tickvals: labels.map((_, index) => index), ticktext: labels, range: [0, Math.max(labels.length - 1, 1)] };
  }
  const { low, high } = distribution;
  if (LOG_DISTRIBUTIONS.has(distribution.distribution) || distribution.distribution === "one_minus_log_uniform") {
    const beta = distribution.distribution === "one_minus_log_uniform";
    const position = (value) => (beta ? -Math.log10(1 - value) : Math.log10(value));
    const [from, to] = [position(low), position(high)];
    const ticks = Array.from({ length: 5 }, (_, i) => from + ((to - from) * i) / 4);
    const kind = beta ? "beta" : "float";
    return { label: beta ? `${path} (1−β log)` : `${path} (log)`, values: values.map(position), range: [from, to],
      tickvals: ticks, ticktext: ticks.map((tick) => formatValue(beta ? 1 - 10 ** -tick : 10 ** tick, kind)) };
  }
  return { label: path, values, range: [low, high] };
}

export class SearchCharts {
  constructor(scatterNode, parcoordsNode, titleNode) {
    this.scatterNode = scatterNode;
    this.parcoordsNode = parcoordsNode;
    this.titleNode = titleNode;
    this.webgl = null; // unknown until the first parcoords draw
  }

  /** Draw the search on screen; `earlier` are the rounds it was zoomed from (SearchResults, oldest first). */
  draw(results, earlier = []) {
    if (!window.Plotly || !results.definition) return;
    this.drawScatter(results, earlier);
    this.drawParcoords(results);
  }

  drawScatter(results, earlier) {
    const objective = results.objective;
    const axis = scatterAxis(results.definition);
    const scored = results.scored;
    const best = results.best;
    const round = earlier.length + 1;
    const text = (trial, owner = results) => `trial ${trial.index}<br>`
      + `${t(OBJECTIVE_LABEL[objective])} ${formatValue(trial[objective])}<br>`
      + Object.entries(trial.config).map(([path, value]) => `${path} = ${formatValue(value, owner.kindOf(path))}`)
        .join("<br>");
    // The rounds this one zoomed from stay on the chart, under it, on the same axes.
    const previous = earlier.map((owner, index) => {
      const trials = owner.scored.filter((trial) => axis.path in trial.config);
      const color = ROUND_COLORS[index % ROUND_COLORS.length];
      return {
        type: "scatter", mode: "markers", name: `round ${index + 1}${index === 0 ? " (coarse)" : ""}`,
        x: trials.map((trial) => trial.config[axis.path]), y: trials.map((trial) => trial[objective]),
        text: trials.map((trial) => `round ${index + 1}, ${text(trial, owner)}`), hoverinfo: "text",
        marker: { size: 9, color, symbol: "circle-open", line: { width: 1.5 } },
      };
    });
    const others = scored.filter((trial) => trial !== best);
    const traces = [...previous, {
      type: "scatter", mode: "markers", name: round > 1 ? `round ${round} (zoomed)` : "trials",
      x: others.map((trial) => trial.config[axis.path]), y: others.map((trial) => trial[objective]),
      text: others.map((trial) => text(trial)), hoverinfo: "text", marker: { size: 9, color: "#2f6db5", opacity: 0.8 },
    }, {
      type: "scatter", mode: "markers", name: "best",
      x: best ? [best.config[axis.path]] : [], y: best ? [best[objective]] : [],
      text: best ? [text(best)] : [], hoverinfo: "text",
      marker: { size: 16, color: "#e8833a", symbol: "star", line: { width: 1, color: "#7a3b0e" } },
    }];
    // Diverged and failed trials have no objective; a learner should still see
    // where they were (too high a learning rate, typically): crosses at the
    // worst value on the chart.
    const broken = [...results.trials.values()].filter((trial) => trial.status === "diverged"
      || trial.status === "failed");
    const values = [...scored, ...earlier.flatMap((owner) => owner.scored)].map((trial) => trial[objective]);
    if (broken.length) {
      const worst = !values.length ? 0 : objective === "dev_loss" ? Math.max(...values) : Math.min(...values);
      traces.push({
        type: "scatter", mode: "markers", name: t("diverged or failed"),
        x: broken.map((trial) => trial.config[axis.path]), y: broken.map(() => worst),
        text: broken.map((trial) => `${text(trial)}<br>${trial.status}${trial.message ? `: ${trial.message}` : ""}`),
        hoverinfo: "text", marker: { size: 10, color: "#b3261e", symbol: "x" },
      });
    }
    const layout = {
      ...LAYOUT,
      xaxis: { title: { text: axis.path }, type: axis.log ? "log" : "linear" },
      yaxis: { title: { text: t(OBJECTIVE_LABEL[objective]) }, ...objectiveRange(objective, values) },
      shapes: round > 1 ? zoomedBand(results.definition.space[axis.path]) : [],
    };
    const title = { objective: t(OBJECTIVE_LABEL[objective]), path: axis.path, round };
    this.titleNode.textContent = (axis.log ? t("{objective} against {path} (log axis)", title)
      : t("{objective} against {path}", title))
      + (round === 2 ? t(": round {round} over the earlier round", title)
        : round > 2 ? t(": round {round} over the earlier rounds", title) : "");
    drawChart(this.scatterNode, traces, layout);
    this.scatterNode.dataset.points = String(scored.length);
    this.scatterNode.dataset.rounds = String(round);
    this.scatterNode.dataset.earlierPoints = String(previous.reduce((sum, trace) => sum + trace.x.length, 0));
    this.scatterNode.dataset.broken = String(broken.length);
    this.scatterNode.dataset.best = best ? String(best.index) : "";
  }

  drawParcoords(results) {
    const objective = results.objective;
    const scored = results.scored;
    const space = results.definition.space;
    if (scored.length === 0) {
      window.Plotly.purge(this.parcoordsNode);
      this.parcoordsNode.dataset.lines = "0";
      return;
    }
    const dimensions = Object.entries(space).map(([path, distribution]) => parcoordsDimension(path, distribution,
      scored));
    const values = scored.map((trial) => trial[objective]);
    dimensions.push({ label: t(OBJECTIVE_LABEL[objective]), values, range: paddedRange(values) });
    if (this.webgl !== false) {
      const trace = {
        type: "parcoords", dimensions,
        line: { color: values, colorscale: "Viridis", reversescale: objective === "dev_loss", showscale: true },
      };
      drawChart(this.parcoordsNode, [trace], { ...LAYOUT, margin: { l: 64, r: 64, t: 48, b: 24 } });
      // Plotly draws parcoords with WebGL and, when it cannot, puts up a notice instead.
      this.webgl = !this.parcoordsNode.querySelector(".no-webgl");
      if (!this.webgl) window.Plotly.purge(this.parcoordsNode);
    }
    if (this.webgl) {
      this.parcoordsNode.dataset.renderer = "parcoords";
    } else {
      const { traces, layout } = parallelLines(dimensions, values, objective === "dev_loss");
      drawChart(this.parcoordsNode, traces, layout);
      this.parcoordsNode.dataset.renderer = "svg";
    }
    this.parcoordsNode.dataset.lines = String(scored.length);
  }
}

/**
 * An accuracy axis at least MIN_ACCURACY_SPAN wide around the values, kept
 * within [0, 1] (plus room for a marker at 1); a loss axis as Plotly picks it.
 */
export function objectiveRange(objective, values) {
  if (objective !== "dev_accuracy" || !values.length) return {};
  const [low, high] = [Math.min(...values), Math.max(...values)];
  const span = Math.max(high - low, MIN_ACCURACY_SPAN) * 1.1;
  const [floor, ceiling] = [-0.01, 1.01];
  const bottom = Math.max(floor, Math.min((low + high) / 2 - span / 2, ceiling - span));
  return { range: [bottom, Math.min(ceiling, bottom + span)] };
}

/** The zoomed round's range of the scatter's parameter, shaded (the rounds before it span the old range). */
function zoomedBand(distribution) {
  if (!distribution || !("low" in distribution)) return [];
  return [{
    type: "rect", xref: "x", yref: "paper", x0: distribution.low, x1: distribution.high, y0: 0, y1: 1,
    fillcolor: "rgba(47, 109, 181, 0.08)", line: { width: 0 }, layer: "below",
  }];
}

function paddedRange(values) {
  const low = Math.min(...values);
  const high = Math.max(...values);
  return low === high ? [low - 0.5, high + 0.5] : [low, high];
}

const BAND_COLORS = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"];

/**
 * Parallel coordinates as SVG, for browsers without WebGL: every axis scaled
 * to [0, 1], one line per trial, coloured in five bands of the objective
 * (yellow is best).
 */
export function parallelLines(dimensions, objectiveValues, lowerIsBetter) {
  const [low, high] = paddedRange(objectiveValues);
  const band = (value) => {
    const share = (value - low) / (high - low);
    const rank = lowerIsBetter ? 1 - share : share;
    return Math.min(BAND_COLORS.length - 1, Math.floor(rank * BAND_COLORS.length));
  };
  const scaled = (dimension, value) => (value - dimension.range[0]) / (dimension.range[1] - dimension.range[0]);
  const traces = BAND_COLORS.map((color, index) => ({
    type: "scatter", mode: "lines", x: [], y: [], hoverinfo: "skip", showlegend: false,
    line: { color, width: index === BAND_COLORS.length - 1 ? 2.5 : 1.5 }, connectgaps: false,
  }));
  objectiveValues.forEach((value, row) => {
    const trace = traces[band(value)];
    dimensions.forEach((dimension, axis) => {
      trace.x.push(axis);
      trace.y.push(scaled(dimension, dimension.values[row]));
    });
    trace.x.push(null);
    trace.y.push(null);
  });
  const ends = (dimension) => (dimension.ticktext
    ? [dimension.ticktext[0], dimension.ticktext[dimension.ticktext.length - 1]]
    : dimension.range.map((end) => formatValue(end)));
  const annotations = dimensions.flatMap((dimension, axis) => {
    const [bottom, top] = ends(dimension);
    return [
      { x: axis, y: 1.12, text: dimension.label, showarrow: false, font: { size: 11 } },
      { x: axis, y: 1.03, text: top, showarrow: false, font: { size: 10, color: "#5b6675" } },
      { x: axis, y: -0.05, text: bottom, showarrow: false, font: { size: 10, color: "#5b6675" } },
    ];
  });
  const shapes = dimensions.map((_, axis) => ({ type: "line", x0: axis, x1: axis, y0: 0, y1: 1,
    line: { color: "#9aa4b1", width: 1 } }));
  const layout = {
    ...LAYOUT, showlegend: false, margin: { l: 40, r: 40, t: 40, b: 24 }, annotations, shapes,
    xaxis: { visible: false, range: [-0.3, dimensions.length - 0.7] },
    yaxis: { visible: false, range: [-0.1, 1.16] },
  };
  return { traces, layout };
}
