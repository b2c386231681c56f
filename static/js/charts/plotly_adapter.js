// The only code that talks to Plotly: drawing, relayout, events, and the laid-out
// axes (Plotly's internal ``_fullLayout``: ranges, ``_offset`` and ``_length``),
// which the canvases need to sit exactly over a plot area.

const plotly = () => window.Plotly;

// Nothing goes to the internet: no "Share chart" upload to Plotly's cloud (on by
// default since Plotly 4), no Chart Studio link; downloading a PNG stays.
export const PLOT_CONFIG = {
  displaylogo: false,
  responsive: true,
  showSendToCloud: false,
  showEditInChartStudio: false,
  showLink: false,
  modeBarButtonsToRemove: ["select2d", "lasso2d", "sendChartToCloud"],
  toImageButtonOptions: { format: "png" },
};

export function baseLayout(yTitle, uirevision) {
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
    // Plain exponents, never SI prefixes ("100µ", "1p"); the labels stand off the axes so
    // that the two "0"s of a chart starting at the origin do not meet.
    // Labels may overflow (they do not: the margins hold them): Plotly's default,
    // "hide past div", measures every label's box on each relayout of an axis,
    // a third of its cost.
    xaxis: { title: { text: "epoch", standoff: 4 }, gridcolor: "#eef0f3", zeroline: false, tickangle: 0,
      exponentformat: "power", ticklabelstandoff: 3, ticklabeloverflow: "allow" },
    yaxis: { title: { text: yTitle, standoff: 4 }, gridcolor: "#eef0f3", zeroline: false, exponentformat: "power",
      ticklabelstandoff: 6, ticklabeloverflow: "allow" },
    shapes: [],
    annotations: [],
  };
}

export const isPlotted = (element) => element.classList.contains("js-plotly-plot");

/** The traces Plotly holds (the same arrays the charts push into). */
export const plottedTraces = (element) => element.data ?? [];

/** Hand the plotted traces new x and y arrays without a redraw. */
export function replaceTraceData(element, traces) {
  traces.forEach((trace, index) => Object.assign(element.data[index], { x: trace.x, y: trace.y }));
}

/** ``{x, y}``: the axis ranges as laid out (in axis units), or null before the first plot. */
export function axisRanges(element) {
  const layout = element._fullLayout;
  if (!layout?.xaxis?.range || !layout.yaxis?.range) return null;
  return { x: layout.xaxis.range.slice(), y: layout.yaxis.range.slice() };
}

/** The y axis's explicit tick values as Plotly holds them (null when it places its own ticks). */
export function yTickValues(element) {
  return element.layout?.yaxis?.tickvals ?? null;
}

/** The plot area in pixels inside the element's offset parent, or null before the first layout. */
export function plotArea(element) {
  const layout = element._fullLayout;
  if (!layout?.xaxis?._length) return null;
  const { xaxis, yaxis } = layout;
  return {
    left: element.offsetLeft + xaxis._offset, top: element.offsetTop + yaxis._offset,
    offsetX: xaxis._offset, offsetY: yaxis._offset, width: xaxis._length, height: yaxis._length,
  };
}

/** A new figure: ``react`` when the element already holds a plot, ``newPlot`` the first time. */
export function draw(element, traces, layout, config = PLOT_CONFIG) {
  const drawn = isPlotted(element)
    ? plotly().react(element, traces, layout, config) : plotly().newPlot(element, traces, layout, config);
  Promise.resolve(drawn).then(() => untab(element));
}

/** Keep the mode bars' buttons (some 28 on the page) out of the tab order: keyboard users tab through the controls. */
function untab(element) {
  for (const button of element.querySelectorAll(".modebar-btn")) button.tabIndex = -1;
}

export const relayout = (element, update) => plotly().relayout(element, update);

export const purge = (element) => plotly().purge(element);

/** ``name``: a Plotly event such as ``plotly_afterplot`` or ``plotly_relayout``. */
export const onPlotEvent = (element, name, handler) => element.on(name, handler);
