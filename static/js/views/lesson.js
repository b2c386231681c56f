// Lesson presets: the picker, the lesson text, and the data-set thumbnails.

import { t } from "../i18n.js";

// Preset texts may name these fields differently as lessons grow; the first present wins.
const LOOK_AT_FIELDS = ["look_at", "what_to_look_at", "watch", "look_for"];
const NEXT_FIELDS = ["try_next", "next", "what_to_change", "change_next"];

const firstText = (preset, fields) => {
  for (const field of fields) {
    const value = preset[field];
    if (typeof value === "string" && value) return value;
    if (Array.isArray(value) && value.length) return value.join(" ");
  }
  return "";
};

export class LessonView {
  constructor({ picker, box, title, explanation, look, lookLabel, next, nextLabel, counterfactual }) {
    Object.assign(this, { picker, box, title, explanation, look, lookLabel, next, nextLabel, counterfactual });
  }

  /** ``handler()`` when the learner asks for the lesson's twin run. */
  bindCounterfactual(handler) { this.counterfactual.addEventListener("click", handler); }

  /** ``handler(presetId)``; the empty id means free play. */
  bindPick(handler) { this.picker?.addEventListener("change", () => handler(this.picker.value)); }

  setPresets(presets) {
    if (!this.picker) return;
    const groups = new Map();
    for (const preset of presets) {
      const name = preset.lesson_title ?? t("Lessons");
      if (!groups.has(name)) {
        const group = document.createElement("optgroup");
        group.label = name;
        groups.set(name, group);
      }
      groups.get(name).append(new Option(preset.title ?? preset.id, preset.id));
    }
    this.picker.replaceChildren(new Option(t("Free play"), ""), ...groups.values());
  }

  /** Show ``preset``'s lesson text, or hide the box for free play. */
  show(preset) {
    if (this.picker) this.picker.value = preset?.id ?? "";
    if (!preset) {
      this.box.hidden = true;
      return;
    }
    this.title.textContent = preset.title ?? preset.id;
    this.explanation.textContent = preset.explanation ?? preset.description ?? "";
    const look = firstText(preset, LOOK_AT_FIELDS);
    const next = firstText(preset, NEXT_FIELDS);
    this.look.textContent = look;
    this.look.hidden = this.lookLabel.hidden = !look;
    this.next.textContent = next;
    this.next.hidden = this.nextLabel.hidden = !next;
    const twin = preset.counterfactual;
    this.counterfactual.textContent = twin?.label ?? "";
    this.counterfactual.title = twin?.difference
      ? t("Train the twin run ({difference}) and keep it as a ghost", { difference: twin.difference }) : "";
    this.counterfactual.hidden = !twin?.label;
    this.box.hidden = false;
  }
}

/** One small picture per 2-D data set, drawn by the server from the engine's own generators. */
export class ThumbnailsView {
  constructor(root, datasets) {
    this.root = root;
    this.buttons = new Map(datasets.map((dataset) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "thumb";
      button.dataset.dataset = dataset;
      button.dataset.testid = `thumb-${dataset}`;
      button.title = dataset;
      const image = document.createElement("img");
      image.alt = "";
      image.width = 56;
      image.height = 56;
      const caption = document.createElement("span");
      caption.textContent = dataset;
      button.append(image, caption);
      return [dataset, button];
    }));
    root.replaceChildren(...this.buttons.values());
    this.query = "";
  }

  /** ``handler(dataset)`` */
  bindPick(handler) {
    for (const [dataset, button] of this.buttons) button.addEventListener("click", () => handler(dataset));
  }

  render({ dataset, noise, labelNoise, seed, locked }) {
    const query = `noise=${noise}&label_noise=${labelNoise}&seed=${seed}`;
    for (const [name, button] of this.buttons) {
      button.setAttribute("aria-pressed", String(name === dataset));
      button.disabled = locked;
      if (query !== this.query && Number.isFinite(noise) && Number.isFinite(labelNoise) && Number.isInteger(seed)) {
        button.querySelector("img").src = `/thumbnails/${name}.svg?${query}`;
      }
    }
    this.query = query;
  }
}
