// The chart column's own words and switches: the smoothing readout, which chart
// of each pair is shown (loss per epoch or per iteration, gradient or weight
// norms, boundary or confusion matrix), notes on what a chart cannot show, the
// misclassified examples.

import { t } from "../i18n.js";
import { renderMisclassified } from "./panels.js";

export class OutputsView {
  constructor(elements) {
    Object.assign(this, elements);
    this.zeroLayers = "";
  }

  /** ``mode``: "epoch" (loss on the full sets, per epoch) or "iteration" (the mini-batch cost of each update). */
  showChartMode(mode) {
    this.lossCard.hidden = mode === "iteration";
    this.iterationCard.hidden = mode !== "iteration";
  }

  showWeights(flag) {
    this.gradientsCard.hidden = flag;
    this.weightsCard.hidden = !flag;
  }

  /**
   * ``layers``: the 1-based numbers of the weight layers whose gradient norm is
   * exactly 0, out of ``count``.  A log axis cannot draw 0, so the chart says why it is empty.
   */
  showZeroGradients(layers, count) {
    const key = `${layers.join(",")}/${count}`;
    if (key === this.zeroLayers) return;
    this.zeroLayers = key;
    this.gradientsNote.hidden = layers.length === 0;
    if (layers.length === 0) {
      this.gradientsNote.textContent = "";
    } else if (layers.length === count) {
      this.gradientsNote.textContent = t("Every gradient norm is exactly 0, and a log axis cannot draw 0: nothing flows back. Zero initialization makes every unit compute the same thing, and ReLUs that output 0 pass no gradient.");
    } else {
      const names = layers.map((layer) => `‖dW[${layer}]‖`).join(", ");
      this.gradientsNote.textContent = layers.length === 1
        ? t("{names} is exactly 0 (not drawn on a log axis): no gradient reaches those weights, as with dead ReLUs or zero initialization.", { names })
        : t("{names} are exactly 0 (not drawn on a log axis): no gradient reaches those weights, as with dead ReLUs or zero initialization.", { names });
    }
  }

  /**
   * The server keeps a bounded log per run; a page that fell behind (or came
   * back late) gets a ``gap`` event for what it can no longer have: say so,
   * or the learner reads a straight line where epochs are missing.
   */
  showGap(missed) {
    this.gapNote.hidden = missed === 0;
    const params = { count: missed };
    this.gapNote.textContent = missed === 0 ? "" : missed === 1
      ? t("{count} event was dropped from the server's log before this page could read them: the curves skip those epochs.", params)
      : t("{count} events were dropped from the server's log before this page could read them: the curves skip those epochs.", params);
  }

  showSmoothing(beta) { this.smoothingValue.textContent = beta.toFixed(2); }

  /**
   * Data that are not 2-D: the dev confusion matrix and misclassified examples instead of the
   * boundary (2-D data of more than two classes get the boundary's class regions).
   */
  showClassCharts(withoutBoundary, images = this.images ?? true) {
    this.boundary.hidden = withoutBoundary;
    this.confusion.hidden = !withoutBoundary;
    // Only images can be shown as the examples they are (an uploaded table has none to show).
    this.misclassified.hidden = !withoutBoundary || !images;
    this.withoutBoundary = withoutBoundary;
    this.images = images;
    let caption;
    if (withoutBoundary) {
      caption = images ? t("Dev confusion matrix and misclassified digits") : t("Dev confusion matrix");
    } else {
      caption = this.withTest ? t("Decision boundary (train ●, dev ✕, test ○)") : t("Decision boundary (train ●)");
    }
    this.caption.textContent = caption;
  }

  showTestLegend(flag) {
    this.withTest = flag;
    this.showClassCharts(this.withoutBoundary ?? false);
  }

  renderMisclassified(examples) { renderMisclassified(this.misclassified, examples); }
}
