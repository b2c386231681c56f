// The network builder: one row of controls per hidden layer, and an SVG diagram
// of input -> hidden layers -> output that redraws as the network is built.

import { fillOptions, labelFor } from "./form.js";

const SVG = "http://www.w3.org/2000/svg";
const MAX_DRAWN_UNITS = 9;

function svgElement(name, attributes) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  return element;
}

export class NetworkView {
  /** ``live``: the paths of the fields a live run may change; a layer's stay editable while it trains. */
  constructor({ list, diagram, addButton, removeButton, count }, { activations, maxLayers, unitBounds, live }) {
    this.list = list;
    this.diagram = diagram;
    this.addButton = addButton;
    this.removeButton = removeButton;
    this.count = count;
    this.activations = activations;
    this.maxLayers = maxLayers;
    this.unitBounds = unitBounds;
    this.live = live;
    this.locked = false;
  }

  /** ``handler(layers)`` with the edited copy of the layer list. */
  bindChange(handler) {
    this.onChange = handler;
  }

  /** ``handler()`` when a layer is added or removed. */
  bindAdd(handler) { this.addButton.addEventListener("click", handler); }

  bindRemove(handler) { this.removeButton.addEventListener("click", handler); }

  /**
   * Draw rows and diagram for ``layers``; ``io`` gives ``{inputs, outputs, parameters}``
   * as the engine previews them (null while unknown: the diagram waits).
   */
  render(layers, io) {
    this.layers = layers;
    const focusedId = document.activeElement?.id;
    this.list.replaceChildren(...layers.map((layer, index) => this.row(layer, index)));
    if (focusedId) document.getElementById(focusedId)?.focus();
    this.addButton.disabled = this.locked || layers.length >= this.maxLayers;
    this.removeButton.disabled = this.locked || layers.length === 0;
    this.setShape(io);
  }

  /** A new preview of the same layers: the diagram and counts change, the rows (and their errors) stay. */
  setShape(io) {
    const layers = this.layers ?? [];
    const depth = layers.length === 0
      ? "no hidden layer: logistic regression"
      : `${layers.length} hidden layer${layers.length === 1 ? "" : "s"}`;
    this.count.textContent = io?.parameters ? `${depth} · ${io.parameters.toLocaleString("en")} parameters` : depth;
    this.io = io;
    if (io) this.drawDiagram(layers, io);
  }

  setLocked(locked) {
    this.locked = locked;
    if (this.layers) this.render(this.layers, this.io);
  }

  lockedField(name) { return this.locked && !this.live.has(`model.hidden.${name}`); }

  row(layer, index) {
    const row = document.createElement("div");
    row.className = "layer-row";
    row.dataset.testid = `layer-${index + 1}`;
    const title = document.createElement("span");
    title.className = "layer-name";
    title.textContent = `${index + 1}`;
    title.title = `Hidden layer ${index + 1}`;
    row.append(title);

    const field = (labelText, control, suffix) => {
      const wrap = document.createElement("div");
      wrap.className = "field compact";
      control.id = `layer-${index + 1}-${suffix}`;
      control.dataset.testid = `layer-${index + 1}-${suffix}`;
      const label = document.createElement("label");
      label.htmlFor = control.id;
      label.textContent = labelText;
      wrap.append(label, control);
      row.append(wrap);
      return control;
    };

    const units = field("Units", document.createElement("input"), "units");
    Object.assign(units, { type: "number", step: "1", value: String(layer.units) });
    units.min = String(this.unitBounds.min ?? 1);
    units.max = String(this.unitBounds.max ?? 512);
    units.disabled = this.lockedField("units");
    units.addEventListener("change", () => this.edit(index, { units: units.value === "" ? NaN : Number(units.value) }));

    const activation = field("Activation", document.createElement("select"), "activation");
    fillOptions(activation, this.activations.map((value) => [value, labelFor(value)]));
    activation.value = layer.activation;
    activation.disabled = this.lockedField("activation");
    activation.addEventListener("change", () => this.edit(index, { activation: activation.value }));

    const keep = field("keep_prob", document.createElement("input"), "keep-prob");
    Object.assign(keep, { type: "number", step: "0.05", min: "0.05", max: "1", value: String(layer.keep_prob) });
    keep.disabled = this.lockedField("keep_prob");
    keep.title = "Dropout: probability of keeping a unit (1 = no dropout)";
    keep.addEventListener("change", () => this.edit(index, { keep_prob: keep.value === "" ? NaN : Number(keep.value) }));

    const batchNorm = document.createElement("input");
    batchNorm.type = "checkbox";
    field("BN", batchNorm, "batch-norm").parentElement.classList.add("check");
    batchNorm.checked = layer.batch_norm;
    batchNorm.disabled = this.lockedField("batch_norm");
    batchNorm.title = "Batch normalization of Z before the activation";
    batchNorm.addEventListener("change", () => this.edit(index, { batch_norm: batchNorm.checked }));

    const error = document.createElement("p");
    error.className = "field-error";
    error.dataset.errorFor = `layer-${index + 1}`;
    error.setAttribute("role", "alert");
    error.hidden = true;
    row.append(error);
    return row;
  }

  edit(index, change) {
    const layers = this.layers.map((layer, at) => (at === index ? { ...layer, ...change } : { ...layer }));
    this.onChange?.(layers, index, change);
  }

  showError(index, message) {
    const slot = this.list.querySelector(`[data-error-for="layer-${index + 1}"]`);
    if (!slot) return false;
    slot.textContent = message;
    slot.hidden = !message;
    return true;
  }

  drawDiagram(layers, io) {
    const columns = [
      { units: io.inputs, label: io.inputs === 64 ? "64 pixels" : `x (${io.inputs})`, kind: "input" },
      ...layers.map((layer, index) => ({
        units: layer.units, kind: "hidden", layer,
        label: `${layer.units} ${labelFor(layer.activation)}`, index,
      })),
      { units: io.outputs === 2 ? 1 : io.outputs, label: io.outputs === 2 ? "σ" : "softmax", kind: "output" },
    ];
    const width = Math.max(260, 64 * columns.length);
    const height = 150;
    const svg = svgElement("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", height, "aria-hidden": "true" });
    const step = width / columns.length;
    const positions = columns.map((column, columnIndex) => {
      const drawn = Math.min(column.units, MAX_DRAWN_UNITS);
      const gap = Math.min(13, (height - 38) / Math.max(drawn, 1));
      const top = (height - 24 - gap * (drawn - 1)) / 2;
      return Array.from({ length: drawn }, (_, unit) => ({ x: step * (columnIndex + 0.5), y: top + unit * gap }));
    });
    for (let c = 1; c < positions.length; c += 1) {
      for (const from of positions[c - 1]) {
        for (const to of positions[c]) {
          svg.append(svgElement("line", { x1: from.x, y1: from.y, x2: to.x, y2: to.y, class: "edge" }));
        }
      }
    }
    columns.forEach((column, c) => {
      const dropout = column.layer && column.layer.keep_prob < 1;
      for (const point of positions[c]) {
        svg.append(svgElement("circle", {
          cx: point.x, cy: point.y, r: 4.5,
          class: `node ${column.kind}${dropout ? " dropout" : ""}`,
        }));
      }
      if (column.units > MAX_DRAWN_UNITS) {
        const last = positions[c][positions[c].length - 1];
        const more = svgElement("text", { x: last.x + 8, y: last.y + 3, class: "more" });
        more.textContent = `+${column.units - MAX_DRAWN_UNITS}`;
        svg.append(more);
      }
      const label = svgElement("text", { x: step * (c + 0.5), y: height - 10, class: "column-label" });
      label.textContent = column.label;
      svg.append(label);
      if (column.layer?.batch_norm) {
        const tag = svgElement("text", { x: step * (c + 0.5), y: 10, class: "tag" });
        tag.textContent = "BN";
        svg.append(tag);
      }
      if (dropout) {
        const tag = svgElement("text", { x: step * (c + 0.5), y: column.layer.batch_norm ? 21 : 10, class: "tag drop" });
        tag.textContent = `keep ${column.layer.keep_prob}`;
        svg.append(tag);
      }
    });
    this.diagram.replaceChildren(svg);
    this.diagram.setAttribute("aria-label", `Network: ${columns.map((column) => column.label).join(" → ")}`);
  }
}
