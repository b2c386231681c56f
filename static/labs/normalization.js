// Normalization lab: the server computes both cost surfaces and gradient descent's paths; this draws them.
import { t } from "../js/i18n.js";
import { BASE_LAYOUT, drawChart, fetchLabData, fillForm, formParameters, formatNumber, setStatus } from "./common.js";

const DATA_URL = "/api/labs/normalization";
const PANELS = ["raw", "normalized"];
const form = document.getElementById("normalization-form");
const statusLabel = document.getElementById("lab-status");
const message = document.getElementById("lab-message");

function readout(panel, name, text) {
  document.querySelector(`[data-testid="${panel}-${name}"]`).textContent = text;
}

function drawPanel(panel, data, labels) {
  const chart = document.getElementById(`${panel}-chart`);
  const path = data.path;
  const traces = [
    {
      type: "contour", x: data.w1, y: data.w2, z: data.cost.map((row) => row.map((cost) => Math.log10(cost))),
      colorscale: "YlGnBu", reversescale: true, ncontours: 24, contours: { coloring: "heatmap", showlines: true },
      line: { width: 0.5, color: "rgba(0,0,0,0.25)" }, colorbar: { title: { text: "log₁₀ J", side: "right" }, thickness: 10 },
      hoverinfo: "x+y", name: "J",
    },
    {
      type: "scatter", mode: "lines+markers", name: "gradient descent",
      x: path.map((point) => point[0]), y: path.map((point) => point[1]),
      line: { color: "#d62728", width: 2 }, marker: { size: 4, color: "#d62728" },
    },
    {
      type: "scatter", mode: "markers", name: "optimum", x: [data.optimum[0]], y: [data.optimum[1]],
      marker: { size: 13, symbol: "star", color: "#ffbf00", line: { width: 1, color: "#000" } },
    },
  ];
  const unit = panel === "raw" ? "" : " (normalized)";
  // One unit of w₁ is as long on screen as one unit of w₂: otherwise a round bowl
  // is drawn as a flat ellipse and the picture contradicts the condition number.
  // The plot area shrinks to a square instead of the ranges growing.
  const layout = {
    ...BASE_LAYOUT,
    xaxis: { title: { text: `w₁: ${labels[0]}${unit}` }, range: [data.w1[0], data.w1[data.w1.length - 1]],
      constrain: "domain" },
    yaxis: { title: { text: `w₂: ${labels[1]}${unit}` }, range: [data.w2[0], data.w2[data.w2.length - 1]],
      scaleanchor: "x", scaleratio: 1, constrain: "domain" },
    showlegend: true,
  };
  drawChart(chart, traces, layout);
  chart.dataset.points = String(path.length);
  readout(panel, "condition", formatNumber(data.condition_number, 1));
  readout(panel, "stable-rate", formatNumber(data.largest_stable_learning_rate, 4));
  readout(panel, "steps", data.diverged ? t("diverged") : data.steps_to_converge === null
    ? t("not within {steps}", { steps: path.length - 1 }) : String(data.steps_to_converge));
  readout(panel, "cost", `${formatNumber(data.costs[data.costs.length - 1])} (${formatNumber(data.optimal_cost)})`);
  const figure = document.querySelector(`[data-testid="panel-${panel}"]`);
  figure.dataset.converged = String(data.steps_to_converge !== null);
  figure.dataset.steps = data.steps_to_converge === null ? "" : String(data.steps_to_converge);
  figure.dataset.diverged = String(data.diverged);
}

async function descend() {
  const data = await fetchLabData(DATA_URL, formParameters(form), statusLabel, message);
  if (!data) return;
  for (const panel of PANELS) drawPanel(panel, data[panel], data.features);
  setStatus(statusLabel, "done");
}

fillForm(form, { learning_rate_raw: 0.011, learning_rate_normalized: 0.5, steps: 150 });
fillForm(form, Object.fromEntries(new URLSearchParams(location.search)));
form.addEventListener("submit", (event) => { event.preventDefault(); descend(); });
descend();
