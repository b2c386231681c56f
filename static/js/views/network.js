// The network builder: one row of controls per hidden layer, and the diagram
// (network_diagram.js) of inputs -> hidden layers -> output that redraws as the
// network is built.

import { t } from "../i18n.js";
import { fillOptions, labelFor } from "./form.js";

export class NetworkView {
  /** ``live``: the paths of the fields a live run may change; a layer's stay editable while it trains. */
  constructor({ list, diagram, addButton, removeButton, count }, { activations, maxLayers, unitBounds, live }) {
    this.list = list;
    this.diagram = diagram;
    this.features = null;
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
   * Draw rows and diagram for ``layers``; ``io`` gives ``{inputs, outputs, parameters, is2d}``
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
      ? t("no hidden layer: logistic regression")
      : layers.length === 1 ? t("1 hidden layer") : t("{count} hidden layers", { count: layers.length });
    this.count.textContent = io?.parameters
      ? t("{depth} · {count} parameters", { depth, count: io.parameters.toLocaleString("en") }) : depth;
    this.io = io;
    if (io) this.diagram.setStructure(layers, io, io.is2d ? this.features : null);
  }

  /** The input features in use (2-D data), drawn lit in the diagram's input column. */
  setFeatures(features) {
    this.features = features;
    if (this.io) this.setShape(this.io);
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
    title.title = t("Hidden layer {number}", { number: index + 1 });
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

    const units = field(t("Units"), document.createElement("input"), "units");
    Object.assign(units, { type: "number", step: "1", value: String(layer.units) });
    units.min = String(this.unitBounds.min ?? 1);
    units.max = String(this.unitBounds.max ?? 512);
    units.disabled = this.lockedField("units");
    units.addEventListener("change", () => this.edit(index, { units: units.value === "" ? NaN : Number(units.value) }));

    const activation = field(t("Activation"), document.createElement("select"), "activation");
    fillOptions(activation, this.activations.map((value) => [value, labelFor(value)]));
    activation.value = layer.activation;
    activation.disabled = this.lockedField("activation");
    activation.addEventListener("change", () => this.edit(index, { activation: activation.value }));

    const keep = field("keep_prob", document.createElement("input"), "keep-prob");
    Object.assign(keep, { type: "number", step: "0.05", min: "0.05", max: "1", value: String(layer.keep_prob) });
    keep.disabled = this.lockedField("keep_prob");
    keep.title = t("Dropout: probability of keeping a unit (1 = no dropout)");
    keep.addEventListener("change", () => this.edit(index, { keep_prob: keep.value === "" ? NaN : Number(keep.value) }));

    const batchNorm = document.createElement("input");
    batchNorm.type = "checkbox";
    field("BN", batchNorm, "batch-norm").parentElement.classList.add("check");
    batchNorm.checked = layer.batch_norm;
    batchNorm.disabled = this.lockedField("batch_norm");
    batchNorm.title = t("Batch normalization of Z before the activation");
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
}
