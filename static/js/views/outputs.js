// The chart column's own words and switches: the smoothing readout, which of the
// boundary and the confusion matrix is shown, the misclassified examples.

import { renderMisclassified } from "./panels.js";

export class OutputsView {
  constructor({ smoothingValue, boundary, confusion, misclassified, caption, gapNote }) {
    Object.assign(this, { smoothingValue, boundary, confusion, misclassified, caption, gapNote });
  }

  /**
   * The server keeps a bounded log per run; a page that fell behind (or came
   * back late) gets a ``gap`` event for what it can no longer have: say so,
   * or the learner reads a straight line where epochs are missing.
   */
  showGap(missed) {
    this.gapNote.hidden = missed === 0;
    this.gapNote.textContent = missed === 0 ? "" : `${missed} event${missed === 1 ? " was" : "s were"} dropped from `
      + "the server's log before this page could read them: the curves skip those epochs.";
  }

  showSmoothing(beta) { this.smoothingValue.textContent = beta.toFixed(2); }

  /** Multi-class data: the dev confusion matrix and misclassified examples instead of the boundary. */
  showClassCharts(multiClass) {
    this.boundary.hidden = multiClass;
    this.confusion.hidden = !multiClass;
    this.misclassified.hidden = !multiClass;
    this.caption.textContent = multiClass
      ? "Dev confusion matrix and misclassified digits" : "Decision boundary (train ●, dev ✕)";
  }

  renderMisclassified(examples) { renderMisclassified(this.misclassified, examples); }
}
