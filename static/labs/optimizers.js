// Optimizer lab: streams the server's race of the four optimizers and animates it on a contour plot.
//
// The contours sit on their own chart under a transparent one that holds the
// trajectories: extending a Plotly trace redraws its whole chart, and
// recomputing the contour lines at every frame would cost more than the race.
// Incoming batches are buffered and drawn at most once per animation frame.
import { t } from "../js/i18n.js";
import {
  BASE_LAYOUT, OPTIMIZER_STYLE, PLOT_CONFIG, describeError, drawChart, fillForm, formParameters, formatNumber,
  getJson, setStatus as showStatus, showMessage,
} from "./common.js";
import { withClientToken } from "../js/client_token.js";

const EVENTS_URL = "/api/labs/optimizers/events";
const OPTIMIZERS = Object.keys(OPTIMIZER_STYLE);
// Trace order on the trajectory chart: one per optimizer, then the start and the minimum.
const TRAJECTORY_TRACES = OPTIMIZERS.map((_, index) => index);
const LOSS_TRACES = OPTIMIZERS.map((_, index) => index);
// Both stacked charts use these margins exactly (no auto-expansion), so their plot areas coincide;
// the top margin holds the trajectories' legend.
const STACK_MARGIN = { l: 56, r: 110, t: 40, b: 48, autoexpand: false };
// One row above the plot, naming each optimizer in its colour.
const TOP_LEGEND = { orientation: "h", x: 0, xanchor: "left", y: 1.01, yanchor: "bottom" };

const form = document.getElementById("race-form");
const surfaceSelect = document.getElementById("surface");
const statusLabel = document.getElementById("lab-status");
const stepLabel = document.getElementById("lab-step");
const message = document.getElementById("lab-message");
const surfaceChart = document.getElementById("race-surface");
const raceChart = document.getElementById("race-chart");
const lossChart = document.getElementById("race-loss-chart");

const surfaces = {};
let source = null;
let shownSurface = null;
let pending = [];
let frameRequested = false;

function setStatus(status) {
  showStatus(statusLabel, status);
}

function surfaceDefaults(surface) {
  return { learning_rate: surface.learning_rate, steps: surface.steps };
}

/** log(1 + f - min f): keeps the contour lines readable where f spans orders of magnitude. */
function contourLevels(z) {
  const lowest = Math.min(...z.map((row) => Math.min(...row)));
  return z.map((row) => row.map((value) => Math.log10(1 + value - lowest)));
}

function axes(data, withLabels) {
  const common = { fixedrange: true, zeroline: false };
  if (!withLabels) {
    Object.assign(common, { showticklabels: false, showgrid: false, ticks: "", showline: false });
  }
  return {
    xaxis: { ...common, range: data.x_range, title: { text: withLabels ? "x" : "" } },
    yaxis: { ...common, range: data.y_range, title: { text: withLabels ? "y" : "" } },
  };
}

function drawSurface(data) {
  document.getElementById("surface-caption").textContent = t("{title}: {formula} (○ start, ★ minimum)", data);
  document.getElementById("surface-title").textContent = data.title;
  document.getElementById("surface-formula").textContent = data.formula;
  document.getElementById("surface-lesson").textContent = data.lesson;
  drawChart(surfaceChart, [{
    type: "contour", x: data.x, y: data.y, z: contourLevels(data.z), colorscale: "YlGnBu", reversescale: true,
    ncontours: 28, contours: { coloring: "heatmap", showlines: true }, line: { width: 0.5, color: "rgba(0,0,0,0.25)" },
    colorbar: { title: { text: "log(1+f−min)", side: "right" }, thickness: 10, x: 1.02, xanchor: "left" },
    hoverinfo: "skip", name: "f",
  }], { ...BASE_LAYOUT, ...axes(data, true), margin: STACK_MARGIN, showlegend: false }, { ...PLOT_CONFIG, staticPlot: true });

  const [x0, y0] = [data.settings.x0, data.settings.y0];
  drawChart(raceChart, [
    ...OPTIMIZERS.map((name) => ({
      type: "scatter", mode: "lines+markers", name: OPTIMIZER_STYLE[name].label, x: [], y: [],
      line: { color: OPTIMIZER_STYLE[name].color, width: 2 }, marker: { size: 3, color: OPTIMIZER_STYLE[name].color },
    })),
    // The caption names these two (○ start, ★ minimum): the legend is for the optimizers.
    { type: "scatter", mode: "markers", name: "start", showlegend: false, x: [x0], y: [y0], marker: { size: 11, symbol: "circle-open", color: "#000", line: { width: 2 } } },
    { type: "scatter", mode: "markers", name: "minimum", showlegend: false, x: [data.minimum[0]], y: [data.minimum[1]], marker: { size: 13, symbol: "star", color: "#ffbf00", line: { width: 1, color: "#000" } } },
  ], {
    ...BASE_LAYOUT, ...axes(data, false), margin: STACK_MARGIN, dragmode: false,
    showlegend: true, legend: TOP_LEGEND,
  });

  drawChart(lossChart, OPTIMIZERS.map((name) => ({
    type: "scatter", mode: "lines", name: OPTIMIZER_STYLE[name].label, x: [], y: [],
    line: { color: OPTIMIZER_STYLE[name].color, width: 2 },
  })), {
    ...BASE_LAYOUT, showlegend: true,
    xaxis: { title: { text: "step" } }, yaxis: { title: { text: "f − min f" }, type: "log" },
  });
  lossChart.dataset.floor = String(Math.min(...data.z.map((row) => Math.min(...row))));
  raceChart.dataset.points = "0";
  shownSurface = data;
}

/** Queue a batch of steps; they are drawn together at the next animation frame. */
function queueSteps(batch) {
  pending.push(batch);
  if (frameRequested) return;
  frameRequested = true;
  requestAnimationFrame(drawPending);
}

function drawPending() {
  frameRequested = false;
  const batches = pending;
  pending = [];
  if (!batches.length || !shownSurface) return;
  const floor = Number(lossChart.dataset.floor);
  const collect = (pick) => OPTIMIZERS.map((name) => batches.flatMap((batch) => pick(batch, name)));
  Plotly.extendTraces(raceChart, {
    x: collect((batch, name) => batch.points[name].map((point) => point[0])),
    y: collect((batch, name) => batch.points[name].map((point) => point[1])),
  }, TRAJECTORY_TRACES);
  Plotly.extendTraces(lossChart, {
    x: collect((batch, name) => batch.points[name].map((_, index) => batch.from + index)),
    // Distance above the lowest grid value, floored so that the log axis never sees zero.
    y: collect((batch, name) => batch.losses[name].map((loss) => Math.max(loss - floor, 1e-12))),
  }, LOSS_TRACES);
  const last = batches[batches.length - 1].to;
  stepLabel.textContent = String(last);
  raceChart.dataset.points = String(last + 1);
}

/** The (x, y) under a click on the trajectory chart, or null outside its plot area. */
function pointAt(event) {
  if (!shownSurface) return null;
  const box = raceChart.getBoundingClientRect();
  const width = box.width - STACK_MARGIN.l - STACK_MARGIN.r;
  const height = box.height - STACK_MARGIN.t - STACK_MARGIN.b;
  const u = (event.clientX - box.left - STACK_MARGIN.l) / width;
  const v = (event.clientY - box.top - STACK_MARGIN.t) / height;
  if (u < 0 || u > 1 || v < 0 || v > 1) return null;
  const [xLow, xHigh] = shownSurface.x_range;
  const [yLow, yHigh] = shownSurface.y_range;
  return { x: xLow + u * (xHigh - xLow), y: yHigh - v * (yHigh - yLow) };
}

/** Coordinates to three decimals; anything smaller than that is shown as zero, not as 1e-20. */
function formatCoordinate(value) {
  return Math.abs(value) < 5e-4 ? "0.000" : value.toFixed(3);
}

function verdict(outcome, surface) {
  if (outcome.diverged) return t("diverged");
  if (outcome.reached_minimum) return t("reached the minimum");
  const diagonal = Math.hypot(surface.x_range[1] - surface.x_range[0], surface.y_range[1] - surface.y_range[0]);
  if (outcome.distance_moved < 0.01 * diagonal) return t("crawled: barely left the start");
  if (outcome.gradient_norm < 1e-2) return t("stalled where the gradient vanishes");
  return t("{distance} from the minimum", { distance: formatNumber(outcome.distance_to_minimum, 2) });
}

function showOutcomes(outcomes, surface) {
  for (const name of OPTIMIZERS) {
    const outcome = outcomes[name];
    const row = document.querySelector(`[data-testid="outcome-${name}"]`);
    row.querySelector(".x").textContent = formatCoordinate(outcome.x);
    row.querySelector(".y").textContent = formatCoordinate(outcome.y);
    row.querySelector(".loss").textContent = formatNumber(outcome.loss);
    row.querySelector(".verdict").textContent = verdict(outcome, surface);
    Object.assign(row.dataset, {
      x: String(outcome.x), y: String(outcome.y), reached: String(outcome.reached_minimum),
      diverged: String(outcome.diverged), moved: String(outcome.distance_moved), steps: String(outcome.steps),
    });
  }
}

function clearOutcomes() {
  for (const row of document.querySelectorAll("[data-optimizer]")) {
    for (const cell of row.querySelectorAll("td")) cell.textContent = "";
    for (const key of ["x", "y", "reached", "diverged", "moved", "steps"]) delete row.dataset[key];
  }
}

/** An EventSource cannot read a 4xx body: ask again with fetch to show which field is wrong. */
async function explainFailure(url) {
  const controller = new AbortController();
  try {
    const answer = await getJson(url, { signal: controller.signal });
    showMessage(message, answer.ok ? t("The connection to the server was lost.") : describeError(answer.body, answer.status));
  } catch {
    showMessage(message, t("The server cannot be reached."));
  } finally {
    controller.abort();
  }
}

function race() {
  if (source) source.close();
  pending = [];
  showMessage(message, "");
  clearOutcomes();
  stepLabel.textContent = "0";
  const parameters = formParameters(form);
  const url = `${EVENTS_URL}?${parameters}`;
  history.replaceState(null, "", `?${parameters}`);
  setStatus("running");
  let surfaceData = null;
  const stream = new EventSource(withClientToken(url));
  source = stream;
  stream.addEventListener("surface", (event) => {
    surfaceData = JSON.parse(event.data);
    drawSurface(surfaceData);
  });
  let batches = 0;
  stream.addEventListener("steps", (event) => {
    batches += 1;
    raceChart.dataset.batches = String(batches);
    queueSteps(JSON.parse(event.data));
  });
  stream.addEventListener("done", (event) => {
    stream.close();
    const outcomes = JSON.parse(event.data).outcomes;
    requestAnimationFrame(() => {
      drawPending();
      showOutcomes(outcomes, surfaceData);
      setStatus("done");
    });
  });
  stream.addEventListener("error", () => {
    if (stream !== source || statusLabel.dataset.status === "done") return;
    // Before the first event nothing was sent: the settings were refused or the server is down.
    if (surfaceData === null) {
      stream.close();
      setStatus("error");
      explainFailure(url);
    }
  });
}

function chooseSurface(id, overrides = {}) {
  surfaceSelect.value = id;
  fillForm(form, { ...surfaceDefaults(surfaces[id]), x0: "", y0: "", ...overrides });
}

async function main() {
  const answer = await getJson("/api/labs/surfaces");
  if (!answer.ok) {
    showMessage(message, describeError(answer.body, answer.status));
    return;
  }
  for (const surface of answer.body.surfaces) {
    surfaces[surface.id] = surface;
    surfaceSelect.append(new Option(surface.title, surface.id));
  }
  form.elements.namedItem("steps").max = String(answer.body.max_steps);
  for (const name of ["x0", "y0"]) {
    const hidden = document.createElement("input");
    Object.assign(hidden, { type: "hidden", name, id: name });
    form.append(hidden);
  }
  fillForm(form, answer.body.defaults);
  const query = new URLSearchParams(location.search);
  const initial = surfaces[query.get("surface")] ? query.get("surface") : answer.body.defaults.surface;
  chooseSurface(initial, Object.fromEntries([...query].filter(([name]) => name !== "surface")));
  surfaceSelect.addEventListener("change", () => { chooseSurface(surfaceSelect.value); race(); });
  form.addEventListener("submit", (event) => { event.preventDefault(); race(); });
  raceChart.addEventListener("click", (event) => {
    const point = pointAt(event);
    if (!point) return;
    fillForm(form, { x0: Number(point.x.toFixed(3)), y0: Number(point.y.toFixed(3)) });
    race();
  });
  race();
}

main();
