// Probability of class 1 over the plane (for more than two classes: the predicted
// class's region, lighter where it is less sure), with the train and dev points on top.
// The axes are a Plotly plot drawn once per run, with no traces.  Under its
// transparent plot area lie two canvases: the probability map, a small canvas
// repainted pixel by pixel for each ``boundary`` event (a fraction of a
// millisecond instead of a Plotly redraw), and the points, drawn once per run
// at the screen's resolution (some 500 Plotly markers took 60 to 300 ms to
// draw).  Hovering names the nearest point's split and class.  The map can also
// show one neuron's activation instead (``showMap``, from the network diagram),
// with a label naming it, and the probability as two colours (``setDiscretize``).
// With class names (an upload's labels) a legend under the plot names each colour.

import { BOUNDARY_TABLE, CLASS_COLORS, CLASS_STEPS, CLASS_TABLES, COLOR_STEPS, MISSING_ENTRY } from "./colors.js";
import { PLOT_CONFIG, axisRanges, baseLayout, draw, isPlotted, onPlotEvent, plotArea } from "./plotly_adapter.js";
import { paintMap } from "./heatmap.js";
import { t } from "../i18n.js";
import { StreamingChart } from "./streaming_chart.js";

// How long a new run's boundary waits for its first grid before drawing the points alone.
const BOUNDARY_WAIT_MS = 1000;
const POINT_HOVER_PX = 8;

/** ``[low, high]`` of ``values`` widened by ``fraction`` of its span on each side. */
function paddedExtent(values, fraction) {
  let low = Infinity;
  let high = -Infinity;
  for (const value of values) {
    if (value < low) low = value;
    if (value > high) high = value;
  }
  if (!(low <= high)) return [-1, 1];
  const pad = (high - low || 1) * fraction;
  return [low - pad, high + pad];
}

const classColor = (label) => CLASS_COLORS[label % CLASS_COLORS.length];

/** The class labels of the points, 0 up to the largest (two at least). */
function classesOf(points) {
  let largest = 1;
  for (const split of Object.values(points ?? {})) {
    for (const label of split?.label ?? []) if (label > largest) largest = label;
  }
  return Array.from({ length: largest + 1 }, (_, label) => label);
}

function makeCanvas(name) {
  const canvas = document.createElement("canvas");
  canvas.className = name;
  canvas.dataset.testid = name;
  canvas.setAttribute("aria-hidden", "true");
  return canvas;
}

export class BoundaryChart extends StreamingChart {
  constructor(element, { redrawIntervalMs = 250 } = {}) {
    super(element, redrawIntervalMs);
    this.canvas = makeCanvas("boundary-map");
    this.pointsCanvas = makeCanvas("boundary-points");
    element.parentElement.classList.add("boundary-frame");
    element.before(this.canvas, this.pointsCanvas);
    this.attachTooltip(element);
    this.revision = 0;
    this.grid = null;
    this.readGrid = null;
    this.points = null;
    this.lattice = "";
    this.needsRebuild = false;
    this.showTest = false;
    this.discretize = false;
    this.overlay = null;
    this.label = document.createElement("p");
    this.label.className = "boundary-label";
    this.label.dataset.testid = "boundary-label";
    this.label.hidden = true;
    element.after(this.label);
    this.legend = document.createElement("ul");
    this.legend.className = "chart-legend boundary-legend";
    this.legend.dataset.testid = "boundary-legend";
    this.legend.hidden = true;
    this.label.after(this.legend);
    this.classNames = null;
  }

  /** The classes' names (an upload's labels, in class-index order) for the legend and the tooltip; null: none. */
  setClassNames(names) {
    this.classNames = names?.length ? names.map(String) : null;
    this.legend.hidden = !this.classNames;
    this.legend.replaceChildren(...(this.classNames ?? []).map((name, index) => {
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch dot";
      swatch.style.backgroundColor = classColor(index);
      item.append(swatch, name);
      return item;
    }));
  }

  className(label) { return this.classNames?.[label] ?? t("class {label}", { label }); }

  /** Whether the held-out points are drawn too: dev as crosses, test as rings (train alone otherwise). */
  setShowTest(flag) {
    this.showTest = flag;
    this.paintPoints();
  }

  /** Two colours, class 0 or 1, instead of the probability's shades. */
  setDiscretize(flag) {
    this.discretize = flag;
    if (this.grid && !this.overlay) this.paint();
  }

  /**
   * ``map``: ``{label, values (size * size, rows going up), size, range}`` to
   * show instead of the boundary, ``values`` null when there is none yet; null
   * puts the boundary back.
   */
  showMap(map) {
    this.overlay = map;
    this.label.hidden = !map;
    this.label.textContent = map?.label ?? "";
    if (map?.values) {
      paintMap(this.canvas, map.values, map.size, map.range);
      this.canvas.dataset.showing = "neuron";
      this.canvas.hidden = !isPlotted(this.element);
    } else {
      delete this.canvas.dataset.showing;
      if (this.grid) this.paint();
      else this.canvas.hidden = true;
    }
  }

  /**
   * ``points``: ``{train, dev, test}``, each ``{x, y, label}``, on the plane;
   * ``wait``: whether a run's first grid is coming (the axes wait a moment for it).
   */
  reset(points, { wait = true } = {}) {
    this.revision += 1;
    this.points = points;
    this.grid = null;
    this.readGrid = null;
    this.lattice = "";
    this.canvas.hidden = true;
    this.pointsCanvas.width = 0;  // cleared until the new run's axes are drawn
    this.needsRebuild = true;
    this.dirty = true;
    this.waitUntil = wait ? performance.now() + BOUNDARY_WAIT_MS : 0;
  }

  /**
   * ``read()`` gives the newest grid when the chart draws.  Grids stream faster
   * than the chart redraws; parsing only the ones drawn keeps the page from
   * making (and collecting) the garbage of all the others.
   */
  setGridSource(read) {
    this.readGrid = read;
    this.dirty = true;
  }

  /** ``grid``: ``{epoch, x (nx), y (ny), z (ny rows of nx)}``; a new lattice redraws the axes too. */
  setGrid(grid) {
    this.readGrid = null;
    const lattice = [grid.x.length, grid.x[0], grid.x[grid.x.length - 1],
      grid.y.length, grid.y[0], grid.y[grid.y.length - 1]].join(",");
    if (lattice !== this.lattice) {
      this.lattice = lattice;
      this.needsRebuild = true;
    }
    this.grid = grid;
    this.dirty = true;
  }

  flush() {
    if (!this.dirty || !this.isVisible()) return false;
    if (this.readGrid) {
      const grid = this.readGrid();
      this.readGrid = null;
      if (grid?.x?.length && grid.y?.length) this.setGrid(grid);
    }
    // A new run sends its points, then the first grid: draw the axes once, with both.
    if (this.needsRebuild && !this.grid && performance.now() < this.waitUntil) return false;
    if (this.needsRebuild || !isPlotted(this.element)) this.rebuild();
    if (this.grid && !this.overlay) this.paint();
    this.dirty = false;
    return true;
  }

  paint() {
    const { x, y, epoch } = this.grid;
    const width = x.length;
    const height = y.length;
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    const context = this.canvas.getContext("2d");
    if (this.image?.width !== width || this.image?.height !== height) this.image = context.createImageData(width, height);
    // Colours come from a table and go straight into the pixel buffer: a paint allocates nothing,
    // so streaming grids make no garbage for the collector to stop the page for.
    // Canvas rows run top to bottom, the grid's rows up the plane.
    const rowOrder = y[height - 1] > y[0] ? (row) => height - 1 - row : (row) => row;
    if (this.grid.classes) this.paintClasses(rowOrder);
    else this.paintProbability(rowOrder);
    context.putImageData(this.image, 0, 0);
    this.canvas.dataset.epoch = String(epoch);
    this.canvas.dataset.classes = String(this.grid.classes ?? 2);
    this.canvas.dataset.discretized = String(this.discretize);
    this.canvas.hidden = false;
  }

  /** Two classes: the probability of class 1 on the orange-white-blue scale. */
  paintProbability(rowOrder) {
    const pixels = this.image.data;
    const { z } = this.grid;
    const { discretize } = this;
    let at = 0;
    for (let row = 0; row < z.length; row += 1) {
      const values = z[rowOrder(row)];
      for (let column = 0; column < values.length; column += 1) {
        const value = values[column];
        const shade = discretize ? (value >= 0.5 ? 0.9 : 0.1) : Math.min(1, Math.max(0, value));
        const entry = value === null ? MISSING_ENTRY : 3 * Math.round(shade * COLOR_STEPS);
        pixels[at] = BOUNDARY_TABLE[entry];
        pixels[at + 1] = BOUNDARY_TABLE[entry + 1];
        pixels[at + 2] = BOUNDARY_TABLE[entry + 2];
        pixels[at + 3] = 255;
        at += 4;
      }
    }
  }

  /**
   * More classes: each cell in its predicted class's colour, from faint where the
   * network is no surer than a guess (1 / classes) to full where it is certain.
   */
  paintClasses(rowOrder) {
    const pixels = this.image.data;
    const { predicted, confidence, classes } = this.grid;
    const guess = 1 / classes;
    const scale = CLASS_STEPS / (1 - guess);
    const { discretize } = this;
    let at = 0;
    for (let row = 0; row < predicted.length; row += 1) {
      const labels = predicted[rowOrder(row)];
      const sureness = confidence[rowOrder(row)];
      for (let column = 0; column < labels.length; column += 1) {
        const table = CLASS_TABLES[labels[column] % CLASS_TABLES.length];
        const step = discretize ? CLASS_STEPS : Math.min(CLASS_STEPS, Math.max(0, Math.round((sureness[column] - guess) * scale)));
        pixels[at] = table[3 * step];
        pixels[at + 1] = table[3 * step + 1];
        pixels[at + 2] = table[3 * step + 2];
        pixels[at + 3] = 255;
        at += 4;
      }
    }
  }

  /** Put both canvases exactly under Plotly's plot area (map cell centres on the grid's coordinates). */
  placeCanvas() {
    const area = plotArea(this.element);
    if (!area) return;
    const box = { left: `${area.left}px`, top: `${area.top}px`, width: `${area.width}px`, height: `${area.height}px` };
    Object.assign(this.canvas.style, box);
    Object.assign(this.pointsCanvas.style, box);
    this.paintPoints();
  }

  /** The plot area's position and size, and data-to-pixel maps from its laid-out ranges. */
  pointArea() {
    const area = plotArea(this.element);
    const ranges = axisRanges(this.element);
    if (!area || !ranges) return null;
    const [x0, x1] = ranges.x;
    const [y0, y1] = ranges.y;
    return {
      ...area,
      px: (x) => ((x - x0) / (x1 - x0)) * area.width,
      py: (y) => ((y1 - y) / (y1 - y0)) * area.height,
    };
  }

  /** Train points as white-rimmed dots and, with the test data shown, dev as crosses and test as rings, by class. */
  paintPoints() {
    const area = this.pointArea();
    const canvas = this.pointsCanvas;
    if (!area) return;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(area.width * ratio);
    canvas.height = Math.round(area.height * ratio);
    const context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, area.width, area.height);
    const train = this.points?.train;
    const dev = this.showTest ? this.points?.dev : null;
    const test = this.showTest ? this.points?.test : null;
    // One path per split and class: the points of a path share its colours.
    const trace = (points, label, mark) => {
      context.beginPath();
      points.x.forEach((x, index) => {
        if (points.label[index] === label) mark(area.px(x), area.py(points.y[index]));
      });
    };
    const labels = classesOf(this.points);
    if (train) {
      context.lineWidth = 0.6;
      context.strokeStyle = "#ffffff";
      for (const label of labels) {
        context.fillStyle = classColor(label);
        trace(train, label, (cx, cy) => {
          context.moveTo(cx + 2.5, cy);
          context.arc(cx, cy, 2.5, 0, 2 * Math.PI);
        });
        context.fill();
        context.stroke();
      }
    }
    // Dev and test points are outlines in their class's colour.
    const outline = (points, lineWidth, mark) => {
      context.lineWidth = lineWidth;
      for (const label of labels) {
        context.strokeStyle = classColor(label);
        trace(points, label, mark);
        context.stroke();
      }
    };
    if (dev) {
      outline(dev, 1.4, (cx, cy) => {
        context.moveTo(cx - 2.5, cy - 2.5);
        context.lineTo(cx + 2.5, cy + 2.5);
        context.moveTo(cx + 2.5, cy - 2.5);
        context.lineTo(cx - 2.5, cy + 2.5);
      });
    }
    if (test) {
      outline(test, 1.3, (cx, cy) => {
        context.moveTo(cx + 3, cy);
        context.arc(cx, cy, 3, 0, 2 * Math.PI);
      });
    }
    canvas.dataset.points = String((train?.x.length ?? 0) + (dev?.x.length ?? 0) + (test?.x.length ?? 0));
  }

  /** The nearest point within a few pixels of the pointer: its split and class, in the tooltip. */
  hover(event) {
    const area = this.pointArea();
    if (!area || !this.points) { this.hideTooltip(); return; }
    // Positions inside the frame count from its padding edge, inside its border.
    const frame = this.element.parentElement;
    const box = frame.getBoundingClientRect();
    const pointerX = event.clientX - box.left - frame.clientLeft - area.left;
    const pointerY = event.clientY - box.top - frame.clientTop - area.top;
    let best = null;
    let bestDistance = POINT_HOVER_PX ** 2;
    for (const split of this.showTest ? ["train", "dev", "test"] : ["train"]) {
      const points = this.points[split];
      if (!points) continue;
      points.x.forEach((x, index) => {
        const px = area.px(x);
        const py = area.py(points.y[index]);
        const distance = (px - pointerX) ** 2 + (py - pointerY) ** 2;
        if (distance < bestDistance) {
          bestDistance = distance;
          best = { split, label: points.label[index], x: px, y: py };
        }
      });
    }
    if (!best) { this.hideTooltip(); return; }
    this.showTooltip([[null, `${best.split}: ${this.className(best.label)}`]],
      { left: `${area.left + best.x + 10}px`, top: `${area.top + best.y + 10}px` });
  }

  rebuild() {
    const layout = {
      ...baseLayout("", `boundary-${this.revision}`),
      hovermode: false, plot_bgcolor: "rgba(0,0,0,0)", margin: { l: 30, r: 6, t: 6, b: 24 },
    };
    const span = (values) => {
      const step = values.length > 1 ? (values[values.length - 1] - values[0]) / (values.length - 1) : 1;
      return [values[0] - step / 2, values[values.length - 1] + step / 2].sort((a, b) => a - b);
    };
    const all = (axis) => ["train", "dev"].flatMap((split) => this.points?.[split]?.[axis] ?? []);
    // The canvases under the plot area do not follow a zoom: the axes stay put.
    const axis = { title: { text: "" }, showgrid: false, zeroline: false, constrain: "domain", tickangle: 0,
      fixedrange: true };
    layout.xaxis = { ...axis, range: this.grid ? span(this.grid.x) : paddedExtent(all("x"), 0.05) };
    layout.yaxis = { ...axis, scaleanchor: "x", scaleratio: 1,
      range: this.grid ? span(this.grid.y) : paddedExtent(all("y"), 0.05) };
    // Fixed axes and no traces: the mode bar would have nothing to offer.
    draw(this.element, [], layout, { ...PLOT_CONFIG, displayModeBar: false });
    if (!this.listening) {
      onPlotEvent(this.element, "plotly_afterplot", () => this.placeCanvas());
      this.listening = true;
    }
    this.placeCanvas();
    this.needsRebuild = false;
  }
}
