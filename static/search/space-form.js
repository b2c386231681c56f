// The "define the search" form: one row per hyperparameter (enable, low and
// high as sliders and inputs, scale toggle), the search settings and the base
// config.  It reads itself into a search definition and can load one back
// (a preset, or the narrowed space of a zoom).

import { t } from "../js/i18n.js";
import { distributionName, formatValue, fromScale, keyOf, offeredParameters, scaleOf, toScale } from "./params.js";

const SLIDER_STEPS = 1000;

function element(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

/** One numeric row: its value range lives in {low, high}; the sliders and inputs mirror it. */
class RangeRow {
  constructor(parameter) {
    this.parameter = parameter;
    this.scale = parameter.scale;
    this.low = parameter.low;
    this.high = parameter.high;
    const key = keyOf(parameter.path);
    this.enable = element("input", { type: "checkbox", id: `param-${key}`, "data-testid": `param-enable-${key}` });
    this.enable.checked = parameter.enabled;
    this.lowInput = element("input", { type: "number", step: "any", "aria-label": t("{name}: low", { name: t(parameter.label) }),
      "data-testid": `param-low-${key}` });
    this.highInput = element("input", { type: "number", step: "any", "aria-label": t("{name}: high", { name: t(parameter.label) }),
      "data-testid": `param-high-${key}` });
    this.lowSlider = element("input", { type: "range", min: "0", max: String(SLIDER_STEPS),
      "aria-label": t("{name}: low slider", { name: t(parameter.label) }), "data-testid": `param-low-slider-${key}` });
    this.highSlider = element("input", { type: "range", min: "0", max: String(SLIDER_STEPS),
      "aria-label": t("{name}: high slider", { name: t(parameter.label) }), "data-testid": `param-high-slider-${key}` });
    this.scaleButton = element("button", { type: "button", class: "scale", "data-testid": `param-scale-${key}`,
      title: t("Sampling scale: log spreads trials evenly over decades") });
    this.node = element("div", { class: "param-row", "data-path": parameter.path }, [
      element("label", { class: "param-name", for: this.enable.id }, [this.enable, ` ${t(parameter.label)}`]),
      element("span", { class: "range" }, [this.lowInput, this.lowSlider, this.highInput, this.highSlider]),
      this.scaleButton,
    ]);
    this.lowInput.addEventListener("change", () => this.setRange(Number(this.lowInput.value), this.high));
    this.highInput.addEventListener("change", () => this.setRange(this.low, Number(this.highInput.value)));
    this.lowSlider.addEventListener("input", () => this.setRange(this.fromSlider(this.lowSlider), this.high));
    this.highSlider.addEventListener("input", () => this.setRange(this.low, this.fromSlider(this.highSlider)));
    this.scaleButton.addEventListener("click", () => this.setScale(this.scale === "log" ? "lin" : "log"));
    this.render();
  }

  get path() { return this.parameter.path; }

  // Sliders move on the row's scale, across the parameter's reach [min, max].
  sliderPosition(value) {
    const { kind, min, max } = this.parameter;
    const [from, to] = [toScale(kind, this.scale, min), toScale(kind, this.scale, max)];
    return Math.round(((toScale(kind, this.scale, value) - from) / (to - from)) * SLIDER_STEPS);
  }

  fromSlider(slider) {
    const { kind, min, max } = this.parameter;
    const [from, to] = [toScale(kind, this.scale, min), toScale(kind, this.scale, max)];
    const value = fromScale(kind, this.scale, from + (Number(slider.value) / SLIDER_STEPS) * (to - from));
    return kind === "int" ? Math.round(value) : Number(formatValue(value, kind));
  }

  setRange(low, high) {
    if (Number.isFinite(low)) this.low = low;
    if (Number.isFinite(high)) this.high = high;
    this.render();
  }

  setScale(scale) {
    this.scale = scale;
    this.render();
  }

  render() {
    const kind = this.parameter.kind;
    this.lowInput.value = formatValue(this.low, kind);
    this.highInput.value = formatValue(this.high, kind);
    this.lowSlider.value = String(this.sliderPosition(this.low));
    this.highSlider.value = String(this.sliderPosition(this.high));
    this.scaleButton.textContent = this.scale;
    this.scaleButton.setAttribute("aria-pressed", String(this.scale === "log"));
  }

  read() {
    return { distribution: distributionName(this.parameter.kind, this.scale), low: this.low, high: this.high };
  }

  load(distribution) {
    this.enable.checked = true;
    this.scale = scaleOf(distribution.distribution);
    this.setRange(distribution.low, distribution.high);
  }
}

/** A choice row: a checkbox per value. */
class ChoiceRow {
  constructor(parameter) {
    this.parameter = parameter;
    const key = keyOf(parameter.path);
    this.enable = element("input", { type: "checkbox", id: `param-${key}`, "data-testid": `param-enable-${key}` });
    this.enable.checked = parameter.enabled;
    this.boxes = parameter.values.map((value) => {
      const box = element("input", { type: "checkbox", value, "data-testid": `param-value-${key}-${value}` });
      box.checked = parameter.chosen.includes(value);
      return box;
    });
    this.node = element("div", { class: "param-row", "data-path": parameter.path }, [
      element("label", { class: "param-name", for: this.enable.id }, [this.enable, ` ${t(parameter.label)}`]),
      element("span", { class: "choices" },
        this.boxes.map((box) => element("label", {}, [box, ` ${box.value}`]))),
    ]);
  }

  get path() { return this.parameter.path; }

  read() {
    return { distribution: "choice", values: this.boxes.filter((box) => box.checked).map((box) => box.value) };
  }

  load(distribution) {
    this.enable.checked = true;
    for (const box of this.boxes) box.checked = distribution.values.includes(box.value);
  }
}

export class SpaceForm {
  /** `schema`: the config's JSON Schema (GET /api/schema), which bounds every row. */
  constructor(root, { datasets, defaultBase, maxTrials, maxWorkers, schema }) {
    this.rows = offeredParameters(schema).map((parameter) => (parameter.kind === "choice" ? new ChoiceRow(parameter)
      : new RangeRow(parameter)));
    root.querySelector("#param-rows").replaceChildren(...this.rows.map((row) => row.node));
    this.trials = root.querySelector("#search-trials");
    this.strategy = root.querySelector("#search-strategy");
    this.objective = root.querySelector("#search-objective");
    this.seed = root.querySelector("#search-seed");
    this.workers = root.querySelector("#search-workers");
    this.dataset = root.querySelector("#base-dataset");
    this.epochs = root.querySelector("#base-epochs");
    this.baseJson = root.querySelector("#base-json");
    this.trials.max = String(maxTrials);
    this.workers.max = String(maxWorkers);
    this.workers.placeholder = t("one per core ({count})", { count: maxWorkers });
    this.dataset.replaceChildren(...datasets.map((name) => element("option", { value: name, text: name })));
    this.loadBase(defaultBase);
    // The quick fields mirror the JSON they are written over, so an edit of
    // the JSON's data set or epochs is not silently undone.
    this.baseJson.addEventListener("change", () => {
      try {
        const base = JSON.parse(this.baseJson.value);
        if (base?.data?.dataset) this.dataset.value = base.data.dataset;
        if (Number.isInteger(base?.training?.epochs)) this.epochs.value = String(base.training.epochs);
      } catch {
        // Invalid JSON is reported when the search starts.
      }
    });
  }

  loadBase(base) {
    this.baseJson.value = JSON.stringify(base, null, 2);
    this.dataset.value = base?.data?.dataset ?? "circles";
    this.epochs.value = String(base?.training?.epochs ?? 200);
  }

  /** The base config: the JSON box with the data set and epochs fields written over it. */
  readBase() {
    let base;
    try {
      base = this.baseJson.value.trim() ? JSON.parse(this.baseJson.value) : {};
    } catch (error) {
      throw new FormError([{ loc: "base", msg: t("the base config is not valid JSON: {error}", { error: error.message }) }]);
    }
    if (typeof base !== "object" || base === null || Array.isArray(base)) {
      throw new FormError([{ loc: "base", msg: "the base config must be a JSON object" }]);
    }
    base.data = { ...(base.data ?? {}), dataset: this.dataset.value };
    base.training = { ...(base.training ?? {}), epochs: Number(this.epochs.value) };
    return base;
  }

  /** The search definition as the API takes it. */
  read() {
    const space = Object.fromEntries(this.rows.filter((row) => row.enable.checked)
      .map((row) => [row.path, row.read()]));
    if (Object.keys(space).length === 0) {
      throw new FormError([{ loc: "space", msg: t("tick at least one hyperparameter to search") }]);
    }
    const workers = this.workers.value.trim() === "" ? null : Number(this.workers.value);
    return { base: this.readBase(), space, strategy: this.strategy.value, trials: Number(this.trials.value),
      objective: this.objective.value, seed: Number(this.seed.value), workers };
  }

  /** Show a definition (a preset or a zoomed search): rows not in its space are unticked. */
  load(definition) {
    for (const row of this.rows) {
      const distribution = definition.space[row.path];
      if (distribution) row.load(distribution);
      else row.enable.checked = false;
    }
    this.trials.value = String(definition.trials ?? 12);
    this.strategy.value = definition.strategy ?? "random";
    this.objective.value = definition.objective ?? "dev_accuracy";
    this.seed.value = String(definition.seed ?? 0);
    this.workers.value = definition.workers ? String(definition.workers) : "";
    if (definition.base) this.loadBase(definition.base);
  }
}

/** A problem found before anything was sent: same ``{loc, msg}`` details as the API's 400s. */
export class FormError extends Error {
  constructor(details) {
    super(details.map((detail) => `${detail.loc}: ${detail.msg}`).join("; "));
    this.details = details;
  }
}
