// The network diagram, as TensorFlow Playground draws it: the input features
// (2-D data: all seven, the ones in use lit, click to toggle), every hidden
// neuron a small heatmap of its activation over the input plane, links whose
// thickness and colour follow the weights.  Pictures come from the engine
// (``input_maps`` in the preview and config event, ``neurons`` in each boundary
// event); the diagram repaints at most every ``redrawIntervalMs`` from the
// newest, like a chart, so a fast run costs it a few repaints a second.

import { decodeMap, decodeMaps, mapLevels, paintLevels, paintMap } from "../charts/heatmap.js";
import { N_, t } from "../i18n.js";
import { DiagramLinks } from "./diagram_links.js";
import { labelFor } from "./form.js";

const MAX_DRAWN_UNITS = 8;
// Deeper networks show their first and last layers around a "+k layers" column.
const MAX_DRAWN_LAYERS = 6;
const NODE_PX = 22;
const ROW_PX = 26;
const LABEL_PX = 30;
// Room above the nodes for a layer's "BN" and "keep 0.8" tags.
const TAG_PX = 22;

export const FEATURE_LABELS = {
  x1: "x₁", x2: "x₂", x1_squared: "x₁²", x2_squared: "x₂²", x1_x2: "x₁x₂", sin_x1: "sin x₁", sin_x2: "sin x₂",
};

/** Whether maps ``a`` and ``b`` of ``layer`` (its ``levels``, ``cells`` a map) are the same picture. */
function sameMap(layer, levels, a, b, cells) {
  if (layer.lo[a] !== layer.lo[b] || layer.hi[a] !== layer.hi[b]) return false;
  for (let cell = 0; cell < cells; cell += 1) if (levels[a * cells + cell] !== levels[b * cells + cell]) return false;
  return true;
}

/** Set ``element``'s attribute only when it changes: a write, even of the same value, costs a style pass. */
function setAttributeIfChanged(element, name, value) {
  if (element.getAttribute(name) !== value) element.setAttribute(name, value);
}

// Inverted dropout draws a mask per example: the marks are one example's, not the layer's for good.
const DROPPED_NOTE = N_("dropped for one example in the latest step");

/** Two strokes corner to corner over a neuron's map. */
function crossOut(canvas) {
  const context = canvas.getContext("2d");
  const { width, height } = canvas;
  context.strokeStyle = "#b91c1c";
  context.lineWidth = width / 8;
  context.beginPath();
  context.moveTo(0, 0);
  context.lineTo(width, height);
  context.moveTo(width, 0);
  context.lineTo(0, height);
  context.stroke();
}

const neuronLabel = (name, activation) => t("{neuron} ({activation})", { neuron: name, activation: labelFor(activation) });

const largest = (encoded) => Math.max(0, ...encoded.lo.map(Math.abs), ...encoded.hi.map(Math.abs));

/** Which hidden layers to draw: all, or the first and last few around the ones left out. */
function drawnLayers(count) {
  const indices = Array.from({ length: count }, (_, index) => index);
  if (count <= MAX_DRAWN_LAYERS) return indices.map((index) => ({ index }));
  const half = MAX_DRAWN_LAYERS / 2;
  return [...indices.slice(0, half).map((index) => ({ index })), { skipped: count - 2 * half },
    ...indices.slice(count - half).map((index) => ({ index }))];
}

export class NetworkDiagram {
  /**
   * ``onToggleFeature(name)``: an input feature was clicked; ``onShowMap(map)``:
   * a neuron or feature is hovered or focused (``{label, values, size, range}``), null when left.
   */
  constructor(element, { features, onToggleFeature = () => {}, onShowMap = () => {} } = {}) {
    Object.assign(this, { element, features, onToggleFeature, onShowMap });
    this.redrawIntervalMs = 150;
    this.dirty = false;
    this.read = null;
    this.inputMaps = null;
    this.neurons = [];
    this.links = null;
  }

  bindToggleFeature(handler) { this.onToggleFeature = handler; }

  bindShowMap(handler) { this.onShowMap = handler; }

  isVisible() { return this.visible ?? this.refreshVisibility(); }

  refreshVisibility() {
    this.visible = this.element.offsetParent !== null;
    return this.visible;
  }

  /**
   * The network to draw: ``layers`` (the config's hidden layers), ``io``
   * (``{inputs, outputs}`` as previewed), ``selected`` (the features in use,
   * for 2-D data; null for data with other inputs).
   */
  setStructure(layers, io, selected) {
    this.structure = { layers, io, selected };
    this.build();
  }

  /** ``maps``: the engine's ``input_maps`` (every feature over the plane), or null. */
  setInputMaps(maps) {
    this.inputMaps = maps;
    this.inputValues = maps ? decodeMaps(maps, maps.size) : null;
    this.paintInputs();
  }

  /** ``read()`` gives the newest ``neurons`` payload when the diagram repaints (null: blank maps). */
  setSource(read) {
    this.read = read;
    this.dirty = true;
  }

  clear() {
    this.read = null;
    this.current = null;
    this.build();
  }

  flush() {
    if (!this.dirty || !this.isVisible()) return false;
    this.dirty = false;
    const neurons = this.read?.();
    this.read = null;
    if (!neurons) return false;
    this.current = neurons;
    this.paintNeurons(neurons);
    return true;
  }

  build() {
    const { layers, io, selected } = this.structure ?? {};
    if (!io) return;
    const columns = this.columns(layers, io, selected);
    const tallest = Math.max(...columns.map((column) => column.nodes.length), 1);
    const height = tallest * ROW_PX + LABEL_PX + TAG_PX + 8;
    const width = 100 * columns.length;
    const board = document.createElement("div");
    board.className = "diagram-board";
    board.style.height = `${height}px`;
    this.links?.disconnect();
    this.links = new DiagramLinks(board, width);
    columns.forEach((column, c) => {
      const top = TAG_PX + (height - TAG_PX - LABEL_PX - column.nodes.length * ROW_PX) / 2 + (ROW_PX - NODE_PX) / 2;
      // Each column a layer over the whole board, so that a test or a screen reader finds its nodes together.
      const layer = document.createElement("div");
      layer.className = "diagram-column";
      if (column.kind === "input" && column.testid) {
        layer.dataset.testid = column.testid;
        layer.setAttribute("role", "group");
        layer.setAttribute("aria-label", t("Input features: click to add or remove"));
      }
      column.nodes.forEach((node, row) => {
        node.x = 100 * c + 50;
        node.y = top + row * ROW_PX + NODE_PX / 2;
        node.element.style.left = `${(node.x / width) * 100}%`;
        node.element.style.top = `${node.y}px`;
        layer.append(node.element);
      });
      board.append(layer);
      this.tags(column).forEach(({ text, dropout }, row) => {
        const tag = document.createElement("span");
        tag.className = `tag${dropout ? " drop" : ""}`;
        tag.style.left = `${((100 * c + 50) / width) * 100}%`;
        tag.style.top = `${row * 10}px`;
        tag.textContent = text;
        if (dropout) tag.title = t("Dropout: crossed-out units are {note}", { note: t(DROPPED_NOTE) });
        board.append(tag);
      });
      const label = document.createElement("span");
      label.className = "diagram-label";
      label.style.left = `${((100 * c + 50) / width) * 100}%`;
      label.textContent = column.label;
      if (column.more) {
        const more = t("+{count}", { count: column.more });
        label.append(Object.assign(document.createElement("b"), { className: "more", textContent: ` ${more}` }));
      }
      board.append(label);
    });
    this.linkColumns(columns);
    this.neurons = columns.filter((column) => column.kind === "hidden");
    this.element.replaceChildren(board);
    const path = columns.map((column) => column.label).join(" → ");
    this.element.setAttribute("aria-label", t("Network: {columns}", { columns: path }));
    this.paintInputs();
    if (this.current) this.paintNeurons(this.current);
  }

  tags(column) {
    const layer = column.layer;
    if (!layer) return [];
    return [...(layer.batch_norm ? [{ text: t("BN") }] : []),
      ...(layer.keep_prob < 1 ? [{ text: t("keep {value}", { value: layer.keep_prob }), dropout: true }] : [])];
  }

  columns(layers, io, selected) {
    const columns = [this.inputColumn(io, selected)];
    for (const drawn of drawnLayers(layers.length)) {
      if (drawn.skipped) {
        const node = this.node("skipped", t("{count} more hidden layers", { count: drawn.skipped }));
        node.element.textContent = "⋯";
        columns.push({ kind: "skipped", label: t("+{count} layers", { count: drawn.skipped }), nodes: [node] });
        continue;
      }
      const layer = layers[drawn.index];
      const shown = Math.min(layer.units, MAX_DRAWN_UNITS);
      const nodes = Array.from({ length: shown }, (_, unit) => this.neuronNode(layer, drawn.index, unit));
      columns.push({ kind: "hidden", layerIndex: drawn.index, layer, nodes, label: `${layer.units} ${labelFor(layer.activation)}`,
        more: layer.units - shown || 0 });
    }
    const outputs = io.outputs === 2 ? 1 : Math.min(io.outputs, MAX_DRAWN_UNITS);
    columns.push({ kind: "output", label: io.outputs === 2 ? "σ" : "softmax",
      more: io.outputs === 2 ? 0 : io.outputs - outputs,
      nodes: Array.from({ length: outputs },
        (_, unit) => this.node("output", t("Output {number}", { number: unit + 1 }))) });
    return columns;
  }

  inputColumn(io, selected) {
    if (!selected) {
      const node = this.node("input pixels", t("{count} inputs", { count: io.inputs }));
      node.element.textContent = io.inputs;
      return { kind: "input", label: t("{count} pixels", { count: io.inputs }), nodes: [node], weightRows: [0] };
    }
    const nodes = this.features.map((name) => this.featureNode(name, selected.includes(name)));
    // A link leaves each feature in use, from the row of W[1] that feature feeds.
    return { kind: "input", label: `x (${io.inputs})`, nodes, testid: "features",
      weightRows: this.features.map((name) => selected.indexOf(name)) };
  }

  node(kind, label) {
    const element = document.createElement("span");
    element.className = `diagram-node ${kind}`;
    element.title = label;
    return { element };
  }

  featureNode(name, active) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = `diagram-node feature${active ? " active" : ""}`;
    button.dataset.feature = name;
    button.setAttribute("aria-pressed", String(active));
    const feature = { name: FEATURE_LABELS[name] };
    button.setAttribute("aria-label",
      active ? t("Input feature {name}: in use", feature) : t("Input feature {name}: not used", feature));
    button.title = active
      ? t("{name}: click to remove this input", feature) : t("{name}: click to add this input", feature);
    const canvas = document.createElement("canvas");
    canvas.setAttribute("aria-hidden", "true");
    const label = document.createElement("span");
    label.className = "feature-label";
    label.textContent = FEATURE_LABELS[name];
    button.append(canvas, label);
    button.addEventListener("click", () => this.onToggleFeature(name));
    this.hoverable(button, () => this.featureMap(name));
    return { element: button, canvas, feature: name };
  }

  neuronNode(layer, layerIndex, unit) {
    const canvas = document.createElement("canvas");
    const name = t("Layer {layer}, neuron {unit}", { layer: layerIndex + 1, unit: unit + 1 });
    canvas.className = `diagram-node neuron${layer.keep_prob < 1 ? " dropout" : ""}`;
    canvas.dataset.testid = "neuron-map";
    canvas.dataset.layer = String(layerIndex + 1);
    canvas.dataset.unit = String(unit + 1);
    canvas.tabIndex = 0;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", neuronLabel(name, layer.activation));
    canvas.title = canvas.getAttribute("aria-label");
    const node = { element: canvas, canvas, name, unit };
    this.hoverable(canvas, () => this.neuronMap(layerIndex, unit, name));
    return node;
  }

  hoverable(element, map) {
    const show = () => this.onShowMap(map());
    const hide = () => this.onShowMap(null);
    element.addEventListener("mouseenter", show);
    element.addEventListener("focus", show);
    element.addEventListener("mouseleave", hide);
    element.addEventListener("blur", hide);
  }

  featureMap(name) {
    const maps = this.inputMaps;
    if (!maps) return null;
    const index = maps.names.indexOf(name);
    return { label: t("Input {name}", { name: FEATURE_LABELS[name] }), values: this.inputValues[index], size: maps.size,
      range: Math.max(Math.abs(maps.lo[index]), Math.abs(maps.hi[index])) };
  }

  neuronMap(layerIndex, unit, name) {
    const layer = this.current?.layers?.[layerIndex];
    const levels = this.levels?.[layerIndex];
    if (!layer || !levels || unit >= layer.lo.length) {
      return { label: t("{neuron}: no picture yet", { neuron: name }), values: null };
    }
    const { size } = this.current;
    return { label: neuronLabel(name, this.structure.layers[layerIndex].activation),
      values: decodeMap(layer, levels, unit, size), size, range: largest(layer) };
  }

  linkColumns(columns) {
    for (let c = 1; c < columns.length; c += 1) {
      const from = columns[c - 1];
      const to = columns[c];
      if (from.kind === "skipped" || to.kind === "skipped") {
        for (const a of from.nodes) for (const b of to.nodes) this.links.add(a, b, null);
        continue;
      }
      const weightLayer = to.kind === "output" ? this.structure.layers.length : to.layerIndex;
      from.nodes.forEach((a, i) => {
        const row = from.kind === "input" ? from.weightRows[i] : i;
        if (row < 0) return;
        to.nodes.forEach((b, j) => {
          this.links.add(a, b, { layer: weightLayer, row, column: j });
        });
      });
    }
  }

  paintInputs() {
    const maps = this.inputMaps;
    if (!maps) return;
    const decoded = this.inputValues;
    for (const node of this.element.querySelectorAll(".diagram-node.feature")) {
      const index = maps.names.indexOf(node.dataset.feature);
      if (index < 0) continue;
      const range = Math.max(Math.abs(maps.lo[index]), Math.abs(maps.hi[index]));
      paintMap(node.querySelector("canvas"), decoded[index], maps.size, range);
    }
  }

  /** Every drawn neuron's map, the marks of dead and identical neurons, the links' weights. */
  paintNeurons(neurons) {
    const cells = neurons.size * neurons.size;
    this.levels = neurons.layers.map((layer) => mapLevels(layer));
    for (const column of this.neurons) {
      const layer = neurons.layers[column.layerIndex];
      const levels = this.levels[column.layerIndex];
      if (!layer || !levels) continue;
      const range = largest(layer);
      for (const node of column.nodes) {
        if (node.unit >= layer.lo.length) continue;
        paintLevels(node.canvas, layer, levels, node.unit, neurons.size, range);
        const dead = column.layer.activation === "relu" && layer.lo[node.unit] === 0 && layer.hi[node.unit] === 0;
        const twins = layer.lo.some((_, unit) => unit !== node.unit && sameMap(layer, levels, unit, node.unit, cells));
        this.mark(node, { dead, identical: twins && !dead, dropped: Boolean(layer.dropped?.includes(node.unit)) });
      }
    }
    this.links.setWeights(neurons.weights ?? []);
    this.element.dataset.epoch = String(this.current?.epoch ?? "");
  }

  /** A neuron's marks as classes and in its tooltip, written only when they change; a dropped unit is crossed out. */
  mark(node, { dead, identical, dropped }) {
    const { canvas } = node;
    canvas.classList.toggle("dead", dead);
    canvas.classList.toggle("identical", identical);
    canvas.classList.toggle("dropped", dropped);
    if (dropped) crossOut(canvas);
    const notes = [dead ? t("dead: outputs 0 everywhere") : "", identical ? t("identical to another neuron") : "",
      dropped ? t(DROPPED_NOTE) : ""];
    setAttributeIfChanged(canvas, "title", [canvas.getAttribute("aria-label"), ...notes.filter(Boolean)].join(" · "));
  }
}
