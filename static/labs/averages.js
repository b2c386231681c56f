// Averages lab: the server computes the series and its averages (one implementation); this draws them.
import { BASE_LAYOUT, drawChart, fetchLabData, fillForm, formParameters, formatNumber, setStatus } from "./common.js";

const DATA_URL = "/api/labs/averages";
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"];
const WEIGHT_DAYS = 60;
const form = document.getElementById("averages-form");
const statusLabel = document.getElementById("lab-status");
const message = document.getElementById("lab-message");
const correction = document.getElementById("bias_correction");
const showBoth = document.getElementById("show_both");
const chart = document.getElementById("averages-chart");
let latest = null;

function averageTraces(data) {
  const traces = [{
    type: "scatter", mode: "markers", name: "temperature", x: data.days, y: data.temperature,
    marker: { size: 4, color: "rgba(60,60,60,0.55)" },
  }];
  data.averages.forEach((average, index) => {
    const color = COLORS[index % COLORS.length];
    const window = `β = ${average.beta} (≈${formatNumber(average.window, 0)} days)`;
    if (correction.checked || showBoth.checked) {
      traces.push({ type: "scatter", mode: "lines", name: `${window}, corrected`, x: data.days, y: average.corrected, line: { color, width: 2.5 } });
    }
    if (!correction.checked || showBoth.checked) {
      traces.push({ type: "scatter", mode: "lines", name: `${window}, uncorrected`, x: data.days, y: average.uncorrected, line: { color, width: 2, dash: "dot" } });
    }
  });
  return traces;
}

function draw() {
  if (!latest) return;
  drawChart(chart, averageTraces(latest), {
    ...BASE_LAYOUT, xaxis: { title: { text: "day" } }, yaxis: { title: { text: "°C" } }, legend: { orientation: "h", y: -0.15 },
  });
  chart.dataset.traces = String(chart.data.length);
  chart.dataset.corrected = String(correction.checked);
}

function drawTable(data) {
  const rows = document.getElementById("averages-rows");
  rows.replaceChildren(...data.averages.map((average) => {
    const row = document.createElement("tr");
    row.dataset.beta = String(average.beta);
    const cells = [average.beta, formatNumber(average.window, 1), formatNumber(average.warmup_bias, 2), formatNumber(average.weight_after_window, 3)];
    for (const value of cells) {
      const cell = document.createElement("td");
      cell.textContent = String(value);
      row.append(cell);
    }
    return row;
  }));
  const days = Array.from({ length: WEIGHT_DAYS }, (_, k) => k);
  drawChart(document.getElementById("weights-chart"), data.averages.map((average, index) => ({
    type: "bar", name: `β = ${average.beta}`, x: days, y: days.map((k) => (1 - average.beta) * average.beta ** k),
    marker: { color: COLORS[index % COLORS.length] }, opacity: 0.75,
  })), { ...BASE_LAYOUT, barmode: "overlay", xaxis: { title: { text: "days back (k)" } }, yaxis: { title: { text: "(1−β)βᵏ" } } });
}

async function load() {
  const parameters = formParameters(form);
  if (parameters.has("betas")) {
    parameters.set("betas", parameters.get("betas").split(",").map((part) => part.trim()).filter(Boolean).join(","));
  }
  const data = await fetchLabData(DATA_URL, parameters, statusLabel, message);
  if (!data) return;
  latest = data;
  draw();
  drawTable(latest);
  setStatus(statusLabel, "done");
}

fillForm(form, Object.fromEntries(new URLSearchParams(location.search)));
form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
correction.addEventListener("change", draw);
showBoth.addEventListener("change", draw);
load();
