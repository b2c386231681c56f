// The smaller panels: diagnosis, gradient check, compare runs, misclassified digits.

import { percent } from "../describe.js";
import { N_, t, translateMessage } from "../i18n.js";

const VERDICTS = {
  high_bias: { title: N_("High bias: the model underfits"), tone: "warn",
    plain: N_("Training error is well above the Bayes error: the model cannot even fit the training set.") },
  high_variance: { title: N_("High variance: the model overfits"), tone: "warn",
    plain: N_("It fits the training set but does much worse on data it did not train on: it memorised instead of generalising.") },
  high_bias_and_variance: { title: N_("High bias and high variance"), tone: "bad",
    plain: N_("It underfits the training set and generalises poorly on top of that.") },
  good: { title: N_("Good fit"), tone: "good",
    plain: N_("Train and dev errors are close to each other and to the Bayes error.") },
  not_learning: { title: N_("Not learning"), tone: "bad",
    plain: N_("Accuracy is at chance and the loss is where it started: training is not getting anywhere.") },
  data_mismatch: { title: N_("Data mismatch: dev data differ from training data"), tone: "warn",
    plain: N_("The model does as well on train-dev (drawn like the training data) as on train, but much worse on dev: the gap is the data, not variance, and regularization will not close it.") },
};

// Why a run is not learning, when the engine can see it.
const CAUSES = {
  zero_init: N_("Zero initialization: every unit starts the same, gets the same gradient and stays the same."),
  vanishing_gradients: N_("Vanishing gradients: in a deep sigmoid or tanh network the early layers get almost none."),
  unnormalized_inputs: N_("Unnormalized inputs: features on very different scales make the cost a long, narrow valley."),
  learning_rate_too_large: N_("The learning rate is too large: each step overshoots."),
  learning_rate_too_small: N_("The learning rate is too small: the steps barely move the weights."),
};

const UNSETTLED = { title: N_("Too early to tell"), tone: "muted",
  plain: N_("The curves are still moving: the verdict waits until they settle.") };


function element(tag, { text, className, testid } = {}) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  if (testid) node.dataset.testid = testid;
  return node;
}

export class DiagnosisView {
  constructor(root) { this.root = root; }

  clear(message = t("Train a model: bias and variance are read from its train and dev errors.")) {
    this.root.replaceChildren(element("p", { text: message, className: "muted" }));
    this.root.dataset.verdict = "";
  }

  /** ``diagnosis``: the engine's ``diagnosis`` event. */
  render(diagnosis) {
    const known = VERDICTS[diagnosis.verdict] ?? { title: diagnosis.verdict, tone: "warn", plain: "" };
    const settled = diagnosis.settled !== false;
    const verdict = settled ? known : UNSETTLED;
    this.root.dataset.verdict = diagnosis.verdict;
    this.root.dataset.settled = String(settled);
    const heading = element("p", { text: t(verdict.title), className: `verdict tone-${verdict.tone}`, testid: "verdict" });
    const parts = [heading, element("p", { text: verdict.plain && t(verdict.plain), className: "hint" })];
    const cause = settled && diagnosis.verdict === "not_learning" ? CAUSES[diagnosis.cause] : null;
    if (cause) parts.push(element("p", { text: t(cause), className: "cause", testid: "diagnosis-cause" }));
    parts.push(this.errorBars(diagnosis), this.gaps(diagnosis));
    const advice = element("ul", { className: "advice" });
    // The engine's advice as message ids (server/engine/messages.py), in the page's language.
    const items = diagnosis.advice_messages?.map(translateMessage) ?? diagnosis.advice ?? [];
    if (settled) for (const item of items) advice.append(element("li", { text: item }));
    if (advice.children.length) parts.push(advice);
    this.root.replaceChildren(...parts);
  }

  errorBars(diagnosis) {
    const bars = element("div", { className: "error-bars" });
    const rows = [[t("Bayes error"), diagnosis.bayes_error, "bayes"], [t("Train error"), diagnosis.train_error, "train"]];
    if (diagnosis.train_dev_error !== undefined && diagnosis.train_dev_error !== null) {
      rows.push([t("Train-dev error"), diagnosis.train_dev_error, "train-dev"]);
    }
    rows.push([t("Dev error"), diagnosis.dev_error, "dev"]);
    const scale = Math.max(0.05, ...rows.map(([, value]) => value ?? 0));
    for (const [label, value, kind] of rows) {
      const row = element("div", { className: "bar-row" });
      const bar = element("span", { className: `bar ${kind}` });
      bar.style.width = `${Math.min(100, (100 * (value ?? 0)) / scale)}%`;
      const track = element("span", { className: "track" });
      track.append(bar);
      row.append(element("span", { text: label }), track, element("span", { text: percent(value), className: "num" }));
      bars.append(row);
    }
    return bars;
  }

  gaps(diagnosis) {
    const mismatch = diagnosis.data_mismatch !== undefined && diagnosis.data_mismatch !== null
      ? ` · data mismatch ${percent(diagnosis.data_mismatch)}` : "";
    return element("p", {
      className: "gaps",
      text: `Avoidable bias ${percent(diagnosis.avoidable_bias)} · variance ${percent(diagnosis.variance)}${mismatch}`,
    });
  }
}

export class GradcheckView {
  constructor({ button, toggle, result }) {
    this.button = button;
    this.toggle = toggle;
    this.result = result;
  }

  /** ``handler(injectBug)`` */
  bindCheck(handler) { this.button.addEventListener("click", () => handler(this.toggle.checked)); }

  busy() {
    this.button.disabled = true;
    this.result.replaceChildren(element("p", { text: t("Checking…"), className: "muted" }));
  }

  render(check) {
    this.button.disabled = false;
    const head = element("p", { className: `gc-verdict verdict-${check.verdict}` });
    head.append(element("strong", { text: check.verdict, testid: "gradcheck-verdict" }),
      ` relative difference ${Number(check.difference).toExponential(2)}`);
    const meaning = {
      great: N_("Backprop matches the numerical gradient (below 1e-7)."),
      ok: N_("Probably fine (below 1e-5); look closer if it grows."),
      suspicious: N_("Between 1e-5 and 1e-3: worth a look."),
      wrong: N_("Backprop disagrees with the numerical gradient: there is a bug."),
    }[check.verdict];
    const rows = element("table", { className: "gc-layers" });
    const header = rows.createTHead().insertRow();
    for (const text of [t("parameter"), t("difference")]) header.append(element("th", { text }));
    const body = rows.createTBody();
    for (const layer of check.layers ?? []) {
      const row = body.insertRow();
      row.insertCell().textContent = layer.name;
      const cell = row.insertCell();
      // No difference: every probe of this parameter stepped across a kink and was left out.
      cell.textContent = layer.difference === null ? "– (kinks only)" : Number(layer.difference).toExponential(2);
      cell.className = layer.difference > 1e-5 ? "bad" : "";
    }
    this.result.dataset.verdict = check.verdict;
    const parts = [head, element("p", { text: meaning ? t(meaning) : "", className: "hint" })];
    if (check.note) parts.push(element("p", { text: check.note, className: "hint", testid: "gradcheck-note" }));
    this.result.replaceChildren(...parts, rows);
  }

  fail(message) {
    this.button.disabled = false;
    this.result.dataset.verdict = "";
    this.result.replaceChildren(element("p", { text: message, className: "error-text" }));
  }
}

export class CompareView {
  constructor(list) { this.list = list; }

  /** ``handler(ghostId)`` */
  bindRemove(handler) { this.onRemove = handler; }

  render(ghosts) {
    if (ghosts.length === 0) {
      this.list.replaceChildren(element("li", { text: t("No finished runs yet."), className: "muted" }));
      return;
    }
    this.list.replaceChildren(...ghosts.map((ghost) => {
      const item = element("li", { testid: "ghost" });
      const swatch = element("span", { className: "swatch" });
      swatch.style.background = ghost.color;
      const label = element("span", { text: ghost.label, className: "ghost-label" });
      const result = element("span", {
        text: ghost.summary, className: "muted",
      });
      const remove = element("button", { text: "×", testid: "ghost-remove" });
      remove.type = "button";
      remove.setAttribute("aria-label", t("Remove ghost run {label}", { label: ghost.label }));
      remove.addEventListener("click", () => this.onRemove?.(ghost.id));
      item.append(swatch, label, result, remove);
      return item;
    }));
  }
}

/** The dev digits the model gets wrong, drawn as 8x8 images. */
export function renderMisclassified(root, examples) {
  root.replaceChildren(...examples.slice(0, 12).map((example) => {
    const figure = element("figure", { className: "digit" });
    const canvas = document.createElement("canvas");
    canvas.width = 8;
    canvas.height = 8;
    const context = canvas.getContext("2d");
    const image = context.createImageData(8, 8);
    example.pixels.forEach((value, index) => {
      const shade = 255 - Math.round((255 * Math.max(0, Math.min(16, value))) / 16);
      image.data.set([shade, shade, shade, 255], index * 4);
    });
    context.putImageData(image, 0, 0);
    canvas.setAttribute("aria-label", `a ${example.label} read as ${example.predicted}`);
    figure.append(canvas, element("figcaption", { text: `${example.label}→${example.predicted}` }));
    return figure;
  }));
}
