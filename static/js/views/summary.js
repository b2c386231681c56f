// What the settings amount to, in words: split sizes and what the batch size means.

import { t } from "../i18n.js";

export class SummaryView {
  constructor({ splitSizes, batchMode }) { Object.assign(this, { splitSizes, batchMode }); }

  /** ``sizes``: ``{train, dev, test, train_dev?}`` examples, or null while unknown. */
  render(sizes, batchSize) {
    if (!sizes) {
      this.splitSizes.textContent = "";
      this.batchMode.textContent = "";
      return;
    }
    const trainDev = sizes.train_dev ? t(" · {count} train-dev", { count: sizes.train_dev }) : "";
    this.splitSizes.textContent = t("{train} train · {dev} dev · {test} test", sizes) + trainDev;
    const steps = Math.ceil(sizes.train / Math.max(1, batchSize));
    this.batchMode.textContent = batchSize >= sizes.train
      ? t("Full batch: one update per epoch (batch gradient descent).")
      : batchSize === 1
        ? t("Stochastic: {count} updates per epoch, one example each.", { count: sizes.train })
        : t("Mini-batch: {count} updates per epoch.", { count: steps });
  }
}
