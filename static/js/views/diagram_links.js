// The network diagram's links, drawn on one canvas under its nodes: blue for a
// positive weight, orange for a negative one, thickness and opacity by |w| over
// the largest drawn weight, in steps the eye tells apart.  As SVG lines, any
// link's new style made the browser repaint every line (some 2.5 ms of Paint per
// repaint for the 384 links of a 6x8 network, several times a second); a
// canvas redraw is a fraction of a millisecond, and only when a step changed.

const POSITIVE = "#2f6db5";
const NEGATIVE = "#e8833a";
const IDLE = "#c7cdd6";
const STEPS = 20;

export class DiagramLinks {
  /** A canvas over the whole of ``board``, whose x coordinates run 0..``viewWidth`` and y in pixels. */
  constructor(board, viewWidth) {
    this.viewWidth = viewWidth;
    this.links = [];
    this.size = null;
    this.canvas = document.createElement("canvas");
    this.canvas.className = "diagram-links";
    this.canvas.dataset.testid = "diagram-links";
    this.canvas.setAttribute("aria-hidden", "true");
    board.prepend(this.canvas);
    // The board's size from the observer, never read from the layout: a paint forces no layout.
    this.observer = new ResizeObserver(([entry]) => {
      this.size = { width: entry.contentRect.width, height: entry.contentRect.height };
      this.draw();
    });
    this.observer.observe(board);
  }

  /** A link from node ``a`` to node ``b`` (``{x, y}``); ``weight`` ``{layer, row, column}`` in ``weights``, or null (dashed). */
  add(a, b, weight) {
    this.links.push({ x1: a.x, y1: a.y, x2: b.x, y2: b.y, weight, strength: null, positive: true });
  }

  /** ``weights[l][i][j]``, as the engine sends them: redrawn when some link's step changed. */
  setWeights(weights) {
    let scale = 0;
    for (const block of weights) for (const row of block) for (const value of row) scale = Math.max(scale, Math.abs(value));
    let changed = false;
    for (const link of this.links) {
      const value = link.weight && weights[link.weight.layer]?.[link.weight.row]?.[link.weight.column];
      if (value === undefined || value === null || scale === 0) continue;
      const strength = Math.round(STEPS * Math.min(1, Math.abs(value) / scale)) / STEPS;
      if (link.strength !== strength || link.positive !== value >= 0) {
        Object.assign(link, { strength, positive: value >= 0 });
        changed = true;
      }
    }
    if (changed) this.draw();
  }

  draw() {
    if (!this.size?.width) return;
    const { width, height } = this.size;
    const ratio = window.devicePixelRatio || 1;
    const canvas = this.canvas;
    const pixels = [Math.round(width * ratio), Math.round(height * ratio)];
    const context = canvas.getContext("2d");
    // A new size only when it changes: setting it, even unchanged, makes the browser lay the canvas out again.
    if (canvas.width !== pixels[0] || canvas.height !== pixels[1]) [canvas.width, canvas.height] = pixels;
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    const scaleX = width / this.viewWidth;
    for (const link of this.links) {
      const { strength } = link;
      context.beginPath();
      context.moveTo(link.x1 * scaleX, link.y1);
      context.lineTo(link.x2 * scaleX, link.y2);
      context.setLineDash(link.weight ? [] : [2, 3]);
      context.strokeStyle = strength === null ? IDLE : link.positive ? POSITIVE : NEGATIVE;
      context.lineWidth = strength === null ? 0.6 : 0.3 + 3.2 * strength;
      context.globalAlpha = strength === null ? 1 : 0.25 + 0.75 * strength;
      context.stroke();
    }
    // What the drawn links show, for readers of the page (tests): each weighted link's signed step.
    canvas.dataset.looks = this.links.filter((link) => link.weight)
      .map((link) => (link.strength === null ? "" : `${link.positive ? "" : "-"}${link.strength}`)).join(",");
  }

  disconnect() { this.observer.disconnect(); }
}
