// What every lab and search chart shares: the mode bar, number formats, and
// keeping Plotly's drawing out of the keyboard's and the screen reader's way.

/**
 * The mode bar keeps zoom, pan and download-as-PNG. "Share chart" would upload
 * the data to Plotly's cloud, which a page that sends nothing to the internet
 * must not offer.
 */
export const PLOT_CONFIG = {
  displaylogo: false,
  responsive: true,
  showSendToCloud: false,
  showEditInChartStudio: false,
  modeBarButtonsToRemove: ["lasso2d", "select2d", "sendDataToCloud", "editInChartStudio"],
};

// Plotly's default exponent format is SI ("1p", "100µ"): scientific instead
// ("1e-12"), on ticks and hovers alike, with three significant digits.
const AXIS_NUMBERS = { exponentformat: "e", hoverformat: ".3~g" };

/** A layout template: every x and y axis, and every colour bar, formats numbers the same way. */
export const NUMBER_TEMPLATE = {
  layout: { xaxis: AXIS_NUMBERS, yaxis: AXIS_NUMBERS },
  data: {
    contour: [{ colorbar: { exponentformat: "e" } }],
    parcoords: [{ line: { colorbar: { exponentformat: "e" } } }],
  },
};

/**
 * Take the mode bar's buttons out of the tab order (the page's own controls
 * come first; the buttons still work with the mouse) and hide Plotly's SVG and
 * canvas layers from screen readers: the chart's container carries the
 * description (role "img" and its label).
 */
export function quietChart(element) {
  for (const button of element.querySelectorAll(".modebar-btn")) button.tabIndex = -1;
  for (const layer of element.querySelectorAll("svg.main-svg, canvas")) layer.setAttribute("aria-hidden", "true");
}

/** Plotly.react with the shared config, kept quiet after this and every later redraw. */
export function drawChart(element, traces, layout, config = PLOT_CONFIG) {
  const drawn = window.Plotly.react(element, traces, layout, config);
  if (element.dataset.quiet !== "true" && typeof element.on === "function") {
    element.on("plotly_afterplot", () => quietChart(element));
    element.dataset.quiet = "true";
  }
  quietChart(element);
  return drawn;
}
