// The form: every [data-prop] control bound to one property of the state table.
// Controls for settings that cannot change mid-run are locked while a run is
// live; elements with data-when="path=a|b" (or "path!=a", "path^=prefix",
// "path!^=prefix") show only when the config matches, and the controls inside
// an element with data-off-when are disabled while it matches, its
// [data-off-reason] text saying why (settings that do nothing for that data).
// Conditions may also name ``preview.is_2d``, as the engine's preview last said it.

import { PROPERTY_BY_KEY, getPath } from "../state.js";
import { bounds } from "../schema.js";
import { N_, t } from "../i18n.js";

const LABELS = {
  circles: N_("Circles"), moons: N_("Moons"), xor: N_("XOR"), spiral: N_("Spiral"), gaussian: N_("Gaussian blobs"), digits: N_("Digits (8×8)"),
  relu: N_("ReLU"), leaky_relu: N_("Leaky ReLU"), tanh: N_("tanh"), sigmoid: N_("sigmoid"), linear: N_("linear"),
  zeros: N_("Zeros"), random: N_("Random × scale"), xavier: N_("Xavier"), he: N_("He"),
  gd: N_("Gradient descent"), momentum: N_("Momentum"), rmsprop: N_("RMSprop"), adam: N_("Adam"),
  constant: N_("Constant"), inverse_time: N_("1/(1 + decay·t)"), exponential: N_("Exponential"), inverse_sqrt: N_("k/√(t+1)"),
  step: N_("Step"),
};

export const labelFor = (value) => (LABELS[value] ? t(LABELS[value]) : String(value));

export const SPEEDS = [1, 3, 10, 30, 100, 300, 1000];
const paceLabel = (speed) => `${speed} epoch${Number(speed) === 1 ? "" : "s"}/s`;
export const BATCH_SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

export function fillOptions(select, entries) {
  select.replaceChildren(...entries.map(([value, text]) => new Option(text, value)));
}

/** Adds an option for a value the list does not have (e.g. batch size 100 from a preset). */
function ensureOption(select, value, text) {
  if ([...select.options].some((option) => option.value === value)) return;
  select.add(new Option(text, value));
}

export class FormView {
  /** ``live``: the paths of the fields a live run may change (the schema's ``x-live``). */
  constructor(root, { schema, allowed, fullBatchSize, live }) {
    this.root = root;
    this.schema = schema;
    this.live = live;
    this.fullBatchSize = fullBatchSize;
    this.controls = [...root.querySelectorAll("[data-prop]")];
    this.conditionals = [...root.querySelectorAll("[data-when]")];
    this.switchable = [...root.querySelectorAll("[data-off-when]")];
    this.switchedOff = new Set();
    this.preview = {};
    this.locked = false;
    for (const control of this.controls) this.prepare(control, allowed);
  }

  prepare(control, allowed) {
    const property = PROPERTY_BY_KEY.get(control.dataset.prop);
    if (!property) throw new Error(`no property ${control.dataset.prop} in the state table`);
    if (control.tagName === "SELECT" && control.options.length === 0) {
      if (property.key === "speed") {
        fillOptions(control, [...SPEEDS.map((speed) => [String(speed), paceLabel(speed)]), ["max", "max"]]);
      } else if (property.key === "batchSize") {
        fillOptions(control, [
          ...BATCH_SIZES.map((size) => [String(size), size === 1 ? "1 (stochastic)" : String(size)]),
          [String(this.fullBatchSize), t("full batch")],
        ]);
      } else {
        fillOptions(control, (allowed.get(property.path) ?? []).map((value) => [value, labelFor(value)]));
      }
    }
    if (control.type === "number" && property.scope === "config") {
      const { min, max, description } = bounds(this.schema, property.path);
      if (min !== undefined) control.min = String(min);
      if (max !== undefined) control.max = String(max);
      if (description) control.title = description;
    }
  }

  /** ``handler(key, value)`` on every user edit, value already typed. */
  bindChange(handler) {
    for (const control of this.controls) {
      const property = PROPERTY_BY_KEY.get(control.dataset.prop);
      const eventName = control.type === "range" ? "input" : "change";
      control.addEventListener(eventName, () => {
        this.showError(property.key, "");
        handler(property.key, property.type.fromControl(control));
      });
    }
  }

  /** Write the state's values into the controls for ``keys`` (all when omitted). */
  render(state, keys) {
    const wanted = keys ? new Set(keys) : null;
    for (const control of this.controls) {
      const key = control.dataset.prop;
      if (wanted && !wanted.has(key)) continue;
      const property = PROPERTY_BY_KEY.get(key);
      const value = state.get(key);
      if (control.tagName === "SELECT" && value !== null && value !== undefined) {
        ensureOption(control, property.type.toUrl(value), key === "speed" ? paceLabel(value) : String(value));
      }
      // A field being typed in keeps what the user types; sliders, boxes and lists always show the state.
      const typing = document.activeElement === control && (control.type === "number" || control.type === "text");
      if (!typing) property.type.toControl(control, value);
    }
    this.applyConditions(state.config);
  }

  /** What the engine's preview says of the data (``{is_2d}``; unknown while it has said nothing). */
  setPreview(facts, config) {
    this.preview = facts;
    this.applyConditions(config);
  }

  applyConditions(config) {
    const scope = { ...config, preview: this.preview };
    // toggleAttribute, not .hidden: MathML elements have no ``hidden`` property.
    for (const element of this.conditionals) element.toggleAttribute("hidden", !matches(element.dataset.when, scope));
    this.switchedOff.clear();
    for (const element of this.switchable) {
      const off = matches(element.dataset.offWhen, scope);
      for (const reason of element.querySelectorAll("[data-off-reason]")) reason.hidden = !off;
      if (off) for (const control of element.querySelectorAll("[data-prop]")) this.switchedOff.add(control);
    }
    this.applyDisabled();
  }

  /** While a run is live only the live-editable settings stay enabled. */
  setLocked(locked) {
    this.locked = locked;
    this.applyDisabled();
  }

  applyDisabled() {
    for (const control of this.controls) {
      const property = PROPERTY_BY_KEY.get(control.dataset.prop);
      if (property.scope !== "config") continue;
      control.disabled = (this.locked && !this.live.has(property.path)) || this.switchedOff.has(control);
    }
  }

  showError(key, message) {
    for (const slot of this.root.querySelectorAll(`[data-error-for="${key}"]`)) {
      slot.textContent = message;
      slot.hidden = !message;
      const field = slot.closest(".field, fieldset");
      field?.classList.toggle("has-error", Boolean(message));
    }
  }

  clearErrors() {
    for (const slot of this.root.querySelectorAll("[data-error-for]")) {
      slot.textContent = "";
      slot.hidden = true;
      slot.closest(".field, fieldset")?.classList.remove("has-error");
    }
  }

  focus(key) {
    this.controls.find((control) => control.dataset.prop === key)?.focus();
  }
}

/** ``"optimizer.name=adam|rmsprop"``, ``"data.dataset!=digits"`` or ``"data.dataset^=upload:"`` against a config. */
export function matches(condition, config) {
  return condition.split(";").every((clause) => {
    const [, path, operator, values] = /^\s*([^!^=]+?)\s*(!?\^?=)(.*)$/.exec(clause);
    const actual = String(getPath(config, path));
    const prefix = operator.includes("^");
    const hit = values.split("|").some((value) => (prefix ? actual.startsWith(value.trim()) : value.trim() === actual));
    return operator.startsWith("!") ? !hit : hit;
  });
}
