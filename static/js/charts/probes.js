// What readers of the page (the browser tests, bench/page.py) can see of the
// charts' work, as data attributes on the chart elements: the one place that
// writes them.

/** ``data-redraws``: count, total and longest milliseconds of the chart's redraws. */
export function recordRedraw(element, took) {
  const [count, total, longest] = (element.dataset.redraws ?? "0,0,0").split(",").map(Number);
  element.dataset.redraws = `${count + 1},${(total + took).toFixed(1)},${Math.max(longest, took).toFixed(1)}`;
}

/** ``data-rebuilds``: how many times the chart handed Plotly a new figure. */
export function recordRebuild(element) {
  element.dataset.rebuilds = String(Number(element.dataset.rebuilds ?? 0) + 1);
}

/** ``data-epochs`` (or another attribute): the last epoch the chart drew, on each of ``elements``. */
export function recordDrawn(elements, value, name = "epochs") {
  for (const element of elements) element.dataset[name] = String(value);
}
