// What every streamed chart shares: its element, the redraw interval the frame
// scheduler honours, a cached visibility, and a tooltip of its own.

export class StreamingChart {
  constructor(element, redrawIntervalMs) {
    this.element = element;
    this.redrawIntervalMs = redrawIntervalMs;
    this.dirty = false;
  }

  // Cached, because asking the DOM every frame forces a layout each time; the
  // dashboard refreshes it when it shows or hides a chart.
  isVisible() { return this.visible ?? this.refreshVisibility(); }

  refreshVisibility() {
    this.visible = this.element.offsetParent !== null;
    return this.visible;
  }

  /** A hidden tooltip placed after ``anchor``, which ``hover(event)`` fills as the pointer moves over the chart. */
  attachTooltip(anchor) {
    this.tooltip = document.createElement("div");
    this.tooltip.className = "chart-tooltip";
    this.tooltip.dataset.testid = `${this.element.dataset.testid}-tooltip`;
    this.tooltip.hidden = true;
    anchor.after(this.tooltip);
    this.element.addEventListener("mousemove", (event) => this.hover(event));
    this.element.addEventListener("mouseleave", () => this.hideTooltip());
  }

  hideTooltip() { this.tooltip.hidden = true; }

  /** Show ``rows`` (``[colour or null, text]``) at ``{left, right, top}`` (CSS lengths, "" to unset). */
  showTooltip(rows, position) {
    this.tooltip.replaceChildren(...rows.map(([color, text]) => {
      const row = document.createElement("div");
      if (color) {
        const swatch = document.createElement("span");
        swatch.className = "swatch";
        swatch.style.borderColor = color;
        row.append(swatch);
      }
      row.append(text);
      return row;
    }));
    Object.assign(this.tooltip.style, { left: "", right: "", ...position });
    this.tooltip.hidden = false;
  }
}
