// The chart column's own words and switches: the smoothing readout, which of the
// boundary and the confusion matrix is shown, the misclassified examples.

import { renderMisclassified } from "./panels.js";

export class OutputsView {
  constructor({ smoothingValue, boundary, confusion, misclassified, caption }) {
    Object.assign(this, { smoothingValue, boundary, confusion, misclassified, caption });
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
