// Click to add points: on a two-feature upload (of any number of classes), a click on the
// boundary chart adds a point of the chosen class where it lands.  The server
// makes a new upload of the old rows plus the point (POST /api/datasets/<id>/points,
// in the chart's coordinates, which the config's training statistics turn
// back into the file's units), and the page switches to it.

import { t } from "../i18n.js";
import { CLIENT_HEADER, clientToken } from "../client_token.js";
import { axisRanges, plotArea } from "../charts/plotly_adapter.js";

/** The chart's data coordinates under a pointer event, or null outside its plot area. */
export function chartCoordinates(element, event) {
  const area = plotArea(element);
  const ranges = axisRanges(element);
  if (!area || !ranges) return null;
  // As the boundary chart's hover: positions inside the frame count from its padding edge.
  const frame = element.parentElement;
  const box = frame.getBoundingClientRect();
  const across = (event.clientX - box.left - frame.clientLeft - area.left) / area.width;
  const down = (event.clientY - box.top - frame.clientTop - area.top) / area.height;
  if (!(across >= 0 && across <= 1 && down >= 0 && down <= 1)) return null;
  const [x0, x1] = ranges.x;
  const [y0, y1] = ranges.y;
  return { x: x0 + across * (x1 - x0), y: y1 - down * (y1 - y0) };
}

export class AddPointsView {
  /** ``box`` holds the ``toggle`` and the class ``select``; ``chart`` is the boundary chart's element. */
  constructor({ box, toggle, select, chart, status }) {
    Object.assign(this, { box, toggle, select, chart, status });
    this.info = null;
    this.sending = false;
    this.onClick = () => {};
    toggle.addEventListener("change", () => this.render(this.info));
    chart.addEventListener("click", (event) => {
      if (!this.toggle.checked || !this.info || this.sending) return;
      const at = chartCoordinates(chart, event);
      if (at) this.onClick({ ...at, label: Number(this.select.value) }, this.info);
    });
    this.render(null);
  }

  /** ``handler(point, info)``: a point ``{x, y, label}`` clicked on the upload ``info``. */
  bindClick(handler) { this.onClick = handler; }

  /** The upload the page trains on (its server description), or null: the box shows for 2-D uploads. */
  render(info) {
    const usable = Boolean(info) && info.n_features === 2;
    this.info = usable ? info : null;
    this.box.hidden = !usable;
    this.chart.classList.toggle("adding-points", usable && this.toggle.checked);
    if (!usable) return;
    const current = this.select.value;
    this.select.replaceChildren(...info.classes.map((label, index) => new Option(String(label), String(index))));
    if ([...this.select.options].some((option) => option.value === current)) this.select.value = current;
  }

  async send(point, info, config) {
    this.sending = true;
    try {
      const response = await fetch(`/api/datasets/${encodeURIComponent(info.id)}/points`, {
        method: "POST",
        headers: { "Content-Type": "application/json", [CLIENT_HEADER]: clientToken() },
        body: JSON.stringify({ config, points: [point] }),
      });
      const body = await response.json().catch(() => null);
      if (!response.ok) throw new Error(body?.details?.[0]?.msg ?? body?.error ?? t("The server answered {status}.", { status: response.status }));
      return body;
    } catch (error) {
      this.status.textContent = t("The point was not added: {error}", { error: error.message });
      this.status.hidden = false;
      return null;
    } finally {
      this.sending = false;
    }
  }
}
