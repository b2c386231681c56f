// What the settings amount to, in words: split sizes and what the batch size means.

export class SummaryView {
  constructor({ splitSizes, batchMode }) { Object.assign(this, { splitSizes, batchMode }); }

  /** ``sizes``: ``{train, dev, test, train_dev?}`` examples, or null while unknown. */
  render(sizes, batchSize) {
    if (!sizes) {
      this.splitSizes.textContent = "";
      this.batchMode.textContent = "";
      return;
    }
    const trainDev = sizes.train_dev ? ` · ${sizes.train_dev} train-dev` : "";
    this.splitSizes.textContent = `${sizes.train} train · ${sizes.dev} dev · ${sizes.test} test${trainDev}`;
    const steps = Math.ceil(sizes.train / Math.max(1, batchSize));
    this.batchMode.textContent = batchSize >= sizes.train
      ? "Full batch: one update per epoch (batch gradient descent)."
      : batchSize === 1
        ? `Stochastic: ${sizes.train} updates per epoch, one example each.`
        : `Mini-batch: ${steps} updates per epoch.`;
  }
}
