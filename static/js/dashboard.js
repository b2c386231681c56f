// The dashboard: routes a run's events to the charts and panels, and keeps the
// readouts (epoch counter, progress, diagnosis) at a readable pace.  What it
// does per event is kept small: an unpaced run sends hundreds a second.

import { t } from "./i18n.js";
import { accuracySeries, layerSeries, lossSeries } from "./charts/series.js";
import { describeChanges } from "./describe.js";

const RATE_WINDOW_MS = 3000;
const PROGRESS_INTERVAL_MS = 100;
const PANEL_INTERVAL_MS = 250;

export class Dashboard {
  /** ``isStreaming()``: whether more events may come (if not, readouts show at once). */
  constructor({ charts, views, scheduler, symbols, isStreaming }) {
    Object.assign(this, { charts, views, scheduler, symbols, isStreaming });
    scheduler.onFrame = () => this.frame();
    this.epoch = 0;
    this.totalEpochs = 0;
    this.rateSamples = [];
    this.running = false;
    this.missedEvents = 0;
    this.pending = { diagnosis: null, misclassified: null };
  }

  /** Empty charts for a run of ``config``; ``waiting`` when a run is about to stream. */
  prepare(config, { waiting = false, withoutBoundary = false } = {}) {
    const { loss, accuracy, iteration, gradients, weights, lr, boundary, confusion } = this.charts;
    const trainDev = config.data.split.train_dev > 0;
    this.config = config;
    loss.reset(lossSeries(trainDev));
    accuracy.reset(accuracySeries(trainDev));
    iteration.reset();
    iteration.planEpochs(null);
    lr.reset();
    gradients.reset(layerSeries(config.model.hidden.length + 1));
    weights.reset(layerSeries(config.model.hidden.length + 1));
    this.epoch = 0;
    this.lastIteration = 0;
    this.rateSamples = [];
    this.missedEvents = 0;
    this.views.outputs.showGap(0);
    this.views.outputs.showZeroGradients([], 0);
    this.setTotal(config.training.epochs);
    this.showClassCharts(withoutBoundary);
    if (withoutBoundary) {
      confusion.reset();
      this.views.outputs.renderMisclassified([]);
    }
    // The data are drawn before any run (``setIdlePoints``); the run's config event brings its own.
    boundary.reset(this.idlePoints ?? null, { wait: waiting });
    this.charts.neurons.clear();
    this.refreshVisibility();
    this.views.diagnosis.clear(waiting ? t("Waiting for the first diagnosis…") : undefined);
  }

  /** Data that are not 2-D: the confusion matrix instead of the decision boundary. */
  showClassCharts(withoutBoundary) {
    const images = this.config?.data.dataset === "digits";
    if (withoutBoundary === this.withoutBoundary && images === this.images) return;
    this.withoutBoundary = withoutBoundary;
    this.images = images;
    this.views.outputs.showClassCharts(withoutBoundary, images);
    this.refreshVisibility();
  }

  refreshVisibility() {
    for (const chart of Object.values(this.charts)) chart.refreshVisibility();
    this.scheduler.request();
  }

  setChartMode(mode) {
    this.views.outputs.showChartMode(mode);
    this.refreshVisibility();
  }

  setWeights(flag) {
    this.views.outputs.showWeights(flag);
    this.refreshVisibility();
  }

  setTotal(epochs) {
    this.totalEpochs = epochs;
    for (const chart of [this.charts.loss, this.charts.accuracy, this.charts.gradients, this.charts.weights,
      this.charts.lr]) {
      chart.planEpochs(epochs);
    }
  }

  handle(name, data) {
    const handler = {
      config: () => this.onConfig(data),
      metrics: () => this.onMetrics(data),
      boundary: () => this.onBoundary(data),
      confusion: () => {
        this.charts.confusion.setMatrix(data.matrix);
        this.pending.misclassified = data.misclassified ?? [];
      },
      diagnosis: () => { this.pending.diagnosis = data; },
      update: () => this.onUpdate(data),
      gap: () => {
        this.missedEvents += data.count ?? 0;
        this.views.outputs.showGap(this.missedEvents);
      },
      done: () => this.onDone(data),
    }[name];
    handler?.();
    this.scheduler.request();
  }

  onConfig(data) {
    this.setTotal(data.total_epochs ?? data.config?.training?.epochs ?? this.totalEpochs);
    const examples = data.data?.n_train;
    const batch = data.config?.training?.batch_size;
    // The iteration axis spans the run's updates from the start, as the epoch axes span its epochs.
    if (examples && batch) {
      this.charts.iteration.planEpochs(this.totalEpochs * Math.ceil(examples / Math.min(batch, examples)));
    }
    if (data.points !== undefined) this.showClassCharts(!data.points);
    if (data.points) this.charts.boundary.reset(data.points);
    if (data.input_maps !== undefined) this.charts.neurons.setInputMaps(data.input_maps);
    const layers = data.config?.model?.hidden?.length;
    if (layers !== undefined && layers + 1 !== this.charts.gradients.options.series.length) {
      this.charts.gradients.reset(layerSeries(layers + 1));
      this.charts.weights.reset(layerSeries(layers + 1));
    }
  }

  /**
   * The previewed data, before any run: their points in the boundary chart
   * (redrawn only when they changed, so a finished run's boundary stays while
   * the network is edited) and every feature's map in the diagram.
   */
  showData(preview) {
    this.charts.neurons.setInputMaps(preview.input_maps ?? null);
    const points = preview.points ?? null;
    const key = JSON.stringify(points);
    if (key === this.idleKey) return;
    this.idleKey = key;
    this.idlePoints = points;
    this.charts.boundary.reset(points, { wait: false });
    this.scheduler.request();
  }

  /** The per-layer charts, empty, for a network of ``hidden`` hidden layers. */
  showLayers(hidden) {
    const { gradients, weights } = this.charts;
    if (gradients.options.series.length === hidden + 1) return;
    gradients.reset(layerSeries(hidden + 1));
    weights.reset(layerSeries(hidden + 1));
    this.scheduler.request();
  }

  setShowTest(flag) {
    this.charts.boundary.setShowTest(flag);
    this.views.outputs.showTestLegend(flag);
  }

  setDiscretize(flag) { this.charts.boundary.setDiscretize(flag); }

  /**
   * ``read()`` parses the event when first asked: the boundary chart and the
   * diagram both draw from it, and most events are never drawn at all.
   */
  onBoundary(read) {
    let parsed;
    const once = () => {
      if (parsed === undefined) parsed = (typeof read === "function" ? read() : read) ?? null;
      return parsed;
    };
    this.charts.boundary.setGridSource(once);
    this.charts.neurons.setSource(() => {
      const grid = once();
      return grid?.neurons ? { ...grid.neurons, epoch: grid.epoch } : null;
    });
  }

  onMetrics(data) {
    this.epoch = data.epoch;
    this.rateSamples.push([performance.now(), data.epoch]);
    const { loss, accuracy, lr, gradients, weights } = this.charts;
    loss.push(data.epoch, {
      train: data.train_loss, dev: data.dev_loss, cost: data.train_cost, trainDev: data.train_dev_loss,
    });
    accuracy.push(data.epoch, { train: data.train_accuracy, dev: data.dev_accuracy, trainDev: data.train_dev_accuracy });
    lr.push(data.epoch, { lr: data.learning_rate });
    this.pushIterationCosts(data);
    const norms = {};
    const weightNorms = {};
    const zero = [];
    (data.layers ?? []).forEach((layer, index) => {
      const key = `layer${index + 1}`;
      norms[key] = layer.grad_norm > 0 ? layer.grad_norm : null;
      weightNorms[key] = layer.weight_norm;
      if (layer.grad_norm === 0) zero.push(index + 1);
    });
    gradients.push(data.epoch, norms);
    weights.push(data.epoch, weightNorms);
    // The epoch-0 report comes before any update: its gradients say nothing yet.
    if (data.epoch > 0) this.views.outputs.showZeroGradients(zero, data.layers?.length ?? 0);
  }

  /**
   * ``iteration_costs`` are the mini-batch costs of the updates since the last
   * report, evenly subsampled: spread them over those iterations.
   */
  pushIterationCosts(data) {
    const costs = data.iteration_costs ?? [];
    const from = this.lastIteration;
    const to = data.iteration ?? from;
    const step = costs.length ? (to - from) / costs.length : 0;
    for (let index = 0; index < costs.length; index += 1) {
      this.charts.iteration.push(from + step * (index + 1), { cost: costs[index] });
    }
    this.lastIteration = to;
  }

  /** Early stopping: mark the epoch whose dev loss was best (epochs counted as completed, as on the axis). */
  onDone(data) {
    this.epoch = data.epoch ?? this.epoch;
    const earlyStopping = this.config?.training.early_stopping.patience > 0;
    if (earlyStopping && Number.isInteger(data.best_epoch)) {
      const label = t("best dev loss · epoch {epoch}", { epoch: data.best_epoch });
      for (const chart of [this.charts.loss, this.charts.accuracy]) chart.addMarker(data.best_epoch, label, "best");
    }
  }

  onUpdate(data) {
    const label = describeChanges(data.changes, this.symbols);
    if (!label) return;
    for (const chart of [this.charts.loss, this.charts.accuracy, this.charts.lr]) chart.addMarker(data.epoch, label);
  }

  /** The finished run's curves, to keep as a ghost. */
  snapshot() {
    const { loss, accuracy, iteration } = this.charts;
    return { loss: loss.snapshot(), accuracy: accuracy.snapshot(), iteration: iteration.snapshot() };
  }

  setSmoothing(beta) {
    for (const chart of [this.charts.loss, this.charts.accuracy, this.charts.iteration]) chart.setSmoothing(beta);
    this.views.outputs.showSmoothing(beta);
  }

  setLogY(flag) { this.charts.loss.setLogY(flag); }

  setGhosts(curves) {
    for (const key of ["loss", "accuracy", "iteration"]) this.charts[key].setGhosts(curves(key));
    this.scheduler.request();
  }

  /** Every animation frame: the cheap text readouts, each at its own pace. */
  frame() {
    const now = performance.now();
    // Without a stream nothing more will come: show everything at once.
    const streaming = this.isStreaming();
    const due = (shownAt, interval) => !streaming || now - (shownAt ?? -Infinity) >= interval;
    // Every changed text costs the frame a paint and a commit; the epoch counter
    // and progress bar read fine at ten updates a second, however fast epochs come.
    if (due(this.progressShownAt, PROGRESS_INTERVAL_MS)) {
      this.renderProgress();
      this.progressShownAt = now;
    } else {
      this.scheduler.request();
    }
    // A fast run reports a diagnosis every few epochs; a few readable updates a second are enough.
    const diagnosisDue = due(this.diagnosisShownAt, PANEL_INTERVAL_MS);
    if (this.pending.diagnosis && diagnosisDue) {
      this.views.diagnosis.render(this.pending.diagnosis);
      this.pending.diagnosis = null;
      this.diagnosisShownAt = now;
    } else if (this.pending.diagnosis) {
      this.scheduler.request();
    }
    if (this.pending.misclassified) {
      this.views.outputs.renderMisclassified(this.pending.misclassified);
      this.pending.misclassified = null;
    }
  }

  renderProgress() {
    const now = performance.now();
    while (this.rateSamples.length > 2 && now - this.rateSamples[0][0] > RATE_WINDOW_MS) this.rateSamples.shift();
    let secondsLeft = null;
    if (this.running && this.rateSamples.length >= 2) {
      const [firstTime, firstEpoch] = this.rateSamples[0];
      const [lastTime, lastEpoch] = this.rateSamples[this.rateSamples.length - 1];
      const rate = (lastEpoch - firstEpoch) / Math.max(1e-3, (lastTime - firstTime) / 1000);
      if (rate > 0) secondsLeft = (this.totalEpochs - this.epoch) / rate;
    }
    this.views.toolbar.setProgress(this.epoch, this.totalEpochs, secondsLeft);
  }
}
