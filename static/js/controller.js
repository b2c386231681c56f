// The controller: turns user intent into API calls and run events into chart
// and view updates.  It owns the run's lifecycle; views own only the DOM.

import { ApiError } from "./api.js";
import { layerSeries } from "./charts.js";
import { PROPERTIES, PROPERTY_BY_KEY, PROPERTY_BY_PATH, clone, getPath, setPath } from "./state.js";
import { labelFor } from "./views/form.js";
import { iframeSnippet } from "./views/share.js";

const LIVE_DEBOUNCE_MS = 250;
const URL_WRITE_DELAY_MS = 150;
const MAX_GHOSTS = 5;
const GHOST_COLORS = ["#7c8796", "#a16207", "#0f766e", "#9d174d", "#4338ca"];
const RATE_WINDOW_MS = 3000;
const PROGRESS_INTERVAL_MS = 100;
const PANEL_INTERVAL_MS = 250;
// While a step-started run reaches its first epoch, it waits this long before a second one.
const STEP_START_PACE = 0.01;
// Only the newest of these is drawn: its JSON is parsed then, not on arrival.
const PARSED_WHEN_DRAWN = new Set(["boundary"]);
const IGNORED_IN_COMPARISON = new Set(["speed", "reportEvery", "boundaryEvery"]);

const UPDATE_LABELS = {
  "optimizer.learning_rate": "α", "optimizer.beta": "β", "optimizer.beta1": "β₁", "optimizer.beta2": "β₂",
  "optimizer.epsilon": "ε", "regularization.l2": "L2", "regularization.l1": "L1", "training.batch_size": "batch",
};

const percent = (value) => (value === null || value === undefined ? "–" : `${(100 * value).toFixed(1)}%`);

/** "α 0.05, L2 0.1" for an ``update`` event's ``changes`` (pacing changes are not worth a marker). */
export function describeChanges(changes) {
  const parts = [];
  for (const [section, values] of Object.entries(changes ?? {})) {
    if (section === "model") {
      (values.hidden ?? []).forEach((layer, index) => {
        if (layer && layer.keep_prob !== undefined) parts.push(`keep[${index + 1}] ${layer.keep_prob}`);
      });
      continue;
    }
    for (const [name, value] of Object.entries(values ?? {})) {
      const path = `${section}.${name}`;
      if (path === "training.epochs_per_second") continue;
      parts.push(`${UPDATE_LABELS[path] ?? name} ${value}`);
    }
  }
  return parts.join(", ");
}

function formatProperty(key, value) {
  if (key === "optimizer") return labelFor(value);
  if (key === "layers") {
    if (value.length === 0) return "no hidden layer";
    return `layers ${value.map((layer) => `${layer.units}${layer.batch_norm ? "bn" : ""}`
      + `${layer.keep_prob < 1 ? `·k${layer.keep_prob}` : ""}`).join("-")} ${labelFor(value[0].activation)}`;
  }
  if (key === "dataset" || key === "init" || key === "schedule") return labelFor(value);
  const short = { learningRate: "α", l2: "L2", l1: "L1", batchSize: "batch", labelNoise: "label noise" }[key] ?? key;
  return `${short} ${value === null ? "off" : value}`;
}

/** What sets ``config`` apart from ``reference``, in a few words ("Adam, α 0.1"). */
export function describeDifference(config, reference) {
  const parts = [];
  for (const property of PROPERTIES) {
    if (property.scope !== "config" || IGNORED_IN_COMPARISON.has(property.key)) continue;
    const mine = getPath(config, property.path);
    if (JSON.stringify(mine) !== JSON.stringify(getPath(reference, property.path))) {
      parts.push(formatProperty(property.key, mine));
    }
  }
  if (parts.length === 0) return "same settings";
  return parts.length > 3 ? `${parts.slice(0, 3).join(", ")} +${parts.length - 3}` : parts.join(", ");
}

export function trainingSetSize(config) {
  const n = config.data.n_samples;
  return n - Math.floor(n * config.data.split.dev) - Math.floor(n * config.data.split.test);
}

export class Controller {
  constructor({ state, settings, api, followRun, views, charts, scheduler }) {
    Object.assign(this, { state, settings, api, followRun, views, charts, scheduler });
    this.status = "idle";
    this.run = null;
    this.stream = null;
    this.epoch = 0;
    this.totalEpochs = state.config.training.epochs;
    this.rateSamples = [];
    this.pendingLive = null;
    this.liveTimer = null;
    this.urlTimer = null;
    this.ghosts = [];
    this.nextGhostId = 1;
    this.finishedRun = null;
    this.presets = [];
    this.pending = { diagnosis: null, misclassified: null };
  }

  // --- wiring ----------------------------------------------------------------

  start() {
    const { form, network, toolbar, gradcheck, compare, lesson, share, thumbnails } = this.views;
    form.bindChange((key, value) => this.edit(key, value));
    network.bindChange((layers, index, change) => this.editLayers(layers, index, change));
    network.bindAdd(() => this.addLayer());
    network.bindRemove(() => this.removeLayer());
    toolbar.bindStart(() => this.toggle());
    toolbar.bindStep(() => this.step());
    toolbar.bindReset(() => this.reset());
    gradcheck.bindCheck((injectBug) => this.checkGradients(injectBug));
    compare.bindRemove((id) => this.removeGhost(id));
    lesson.bindPick((id) => this.pickPreset(id));
    share.bindLink(() => this.shareLink());
    share.bindEmbed(() => this.embedSnippet());
    thumbnails.bindPick((dataset) => this.edit("dataset", dataset, "thumbnail"));
    this.state.onChange((keys, source) => this.stateChanged(keys, source));
    window.addEventListener("hashchange", () => this.loadFragment());
    document.addEventListener("keydown", (event) => this.shortcut(event));
    this.scheduler.onFrame = () => this.frame();

    form.render(this.state);
    this.renderDerived(PROPERTIES.map((property) => property.key));
    this.views.compare.render([]);
    this.setStatus("idle");
    return this.loadPresets();
  }

  async loadPresets() {
    const { preset, autoplay } = this.settings;
    try {
      this.presets = await this.api.presets();
    } catch (error) {
      if (preset) this.message(`Could not load the lesson "${preset}": ${error.message}`, "error");
      this.presets = [];
    }
    if (!Array.isArray(this.presets)) this.presets = [];
    this.views.lesson.setPresets(this.presets);
    const fragment = window.location.hash;
    if (preset) {
      const found = this.presets.find((candidate) => candidate.id === preset);
      if (found) this.applyPreset(found, { writeUrl: false });
      else if (this.presets.length) this.message(`There is no lesson called "${preset}".`, "error");
    }
    this.loadFragment(fragment);
    if (autoplay && this.status === "idle") await this.startRun();
  }

  loadFragment(fragment = window.location.hash) {
    const warnings = this.state.applyFragment(fragment, "url");
    if (warnings.length) this.message(`Some settings in the link were not used: ${warnings.join("; ")}.`, "warning");
  }

  shortcut(event) {
    const target = event.target;
    const typing = target instanceof HTMLInputElement || target instanceof HTMLSelectElement
      || target instanceof HTMLTextAreaElement || target instanceof HTMLButtonElement;
    if (event.key === " " && !typing && !event.repeat) {
      event.preventDefault();
      this.toggle();
    }
  }

  // --- editing ---------------------------------------------------------------

  /** A user edit; ``source`` "form" means the control already shows the value. */
  edit(key, value, source = "form") {
    this.state.set(key, value, source);
    const property = PROPERTY_BY_KEY.get(key);
    if (this.isLive() && property.live) {
      const pace = key === "speed" && value === null ? this.settings.limits.max_epochs_per_second : value;
      const partial = {};
      setPath(partial, property.path, pace);
      this.queueLive(partial);
    }
  }

  editLayers(layers, index, change) {
    this.state.set("layers", layers, "form");
    if (this.isLive() && Object.keys(change).every((name) => name === "keep_prob")) {
      const hidden = layers.map((_, at) => (at === index ? { keep_prob: change.keep_prob } : null));
      this.queueLive({ model: { hidden } });
    }
  }

  addLayer() {
    const layers = clone(this.state.get("layers"));
    const template = layers.length ? layers[layers.length - 1] : { ...this.state.layerDefaults };
    layers.push({ ...template });
    this.state.set("layers", layers, "form");
  }

  removeLayer() {
    const layers = clone(this.state.get("layers"));
    layers.pop();
    this.state.set("layers", layers, "form");
  }

  stateChanged(keys, source) {
    const { form } = this.views;
    if (source !== "form") form.render(this.state, keys);
    else form.applyConditions(this.state.config);
    this.renderDerived(keys);
    this.writeUrlSoon();
  }

  renderDerived(keys) {
    const changed = new Set(keys);
    const config = this.state.config;
    if (["layers", "dataset"].some((key) => changed.has(key))) this.renderNetwork();
    if (["dataset", "noise", "labelNoise", "seed"].some((key) => changed.has(key))) this.renderThumbnails();
    if (changed.has("smoothing")) {
      const beta = this.state.get("smoothing");
      this.charts.loss.setSmoothing(beta);
      this.charts.accuracy.setSmoothing(beta);
      document.getElementById("smoothing-value").textContent = beta.toFixed(2);
    }
    if (changed.has("logY")) this.charts.loss.setLogY(this.state.get("logY"));
    if (["samples", "train", "dev", "test", "batchSize"].some((key) => changed.has(key))) {
      const nTrain = trainingSetSize(config);
      const nDev = Math.floor(config.data.n_samples * config.data.split.dev);
      const nTest = Math.floor(config.data.n_samples * config.data.split.test);
      document.getElementById("split-sizes").textContent = `${nTrain} train · ${nDev} dev · ${nTest} test`;
      const batch = config.training.batch_size;
      const steps = Math.ceil(nTrain / Math.max(1, batch));
      document.getElementById("batch-mode").textContent = batch >= nTrain
        ? "Full batch: one update per epoch (batch gradient descent)."
        : batch === 1
          ? `Stochastic: ${nTrain} updates per epoch, one example each.`
          : `Mini-batch: ${steps} updates per epoch.`;
    }
    if (changed.has("epochs") && this.status === "idle") {
      this.totalEpochs = config.training.epochs;
      this.renderProgress();
    }
    if (this.ghosts.length) this.refreshGhosts();
    this.scheduler.request();
  }

  renderNetwork() {
    const digits = this.state.get("dataset") === "digits";
    this.views.network.render(this.state.get("layers"), { inputs: digits ? 64 : 2, outputs: digits ? 10 : 2 });
  }

  renderThumbnails() {
    this.views.thumbnails.render({
      dataset: this.state.get("dataset"), noise: this.state.get("noise"), labelNoise: this.state.get("labelNoise"),
      seed: this.state.get("seed"), locked: this.isLive(),
    });
  }

  writeUrlSoon() {
    clearTimeout(this.urlTimer);
    this.urlTimer = setTimeout(() => this.writeUrl(), URL_WRITE_DELAY_MS);
  }

  writeUrl() {
    const fragment = this.state.toFragment();
    window.history.replaceState(null, "", `${window.location.pathname}${window.location.search}#${fragment}`);
    const full = document.getElementById("open-full");
    if (full) full.href = `/#${fragment}`;
  }

  // --- presets and sharing ---------------------------------------------------

  pickPreset(id) {
    const preset = this.presets.find((candidate) => candidate.id === id);
    if (!preset) {
      this.views.lesson.show(null);
      return;
    }
    if (this.isLive()) this.reset();
    this.applyPreset(preset, { writeUrl: true });
  }

  applyPreset(preset, { writeUrl }) {
    this.state.replaceConfig(preset.config ?? {}, "preset");
    this.views.lesson.show(preset);
    if (writeUrl) this.writeUrl();
  }

  shareLink() {
    this.writeUrl();
    const path = window.location.pathname === "/embed" ? "/" : window.location.pathname;
    return `${window.location.origin}${path}#${this.state.toFragment()}`;
  }

  embedSnippet() {
    this.writeUrl();
    return iframeSnippet(window.location.origin, this.state.toFragment());
  }

  // --- the run's lifecycle ---------------------------------------------------

  isLive() { return this.status === "running" || this.status === "paused"; }

  setStatus(status, busy = false) {
    this.status = status;
    this.views.toolbar.setStatus(status, { busy });
    this.views.form.setLocked(this.isLive() || busy);
    this.views.network.setLocked(this.isLive() || busy);
    this.renderThumbnails();
  }

  toggle() {
    if (this.busy) return undefined;
    if (this.status === "running") return this.sendControl("pause", "paused");
    if (this.status === "paused") return this.sendControl("resume", "running");
    return this.startRun();
  }

  async step() {
    if (this.busy) return;
    if (this.status === "paused") {
      await this.sendControl("step", "paused");
      return;
    }
    if (!this.isLive()) await this.startRun({ paused: true });
  }

  /** Start a run of the current config; ``paused`` stops it after its first epoch. */
  async startRun({ paused = false } = {}) {
    const config = clone(this.state.config);
    const requested = clone(config);
    if (paused) requested.training.epochs_per_second = STEP_START_PACE;
    this.clearErrors();
    this.busy = true;
    this.setStatus(this.status, true);
    let created;
    try {
      created = await this.api.createRun(requested);
    } catch (error) {
      this.busy = false;
      this.setStatus(this.status);
      this.showApiError(error);
      return;
    }
    this.retireFinishedRun();
    this.run = { id: created.id, config, startedAt: performance.now() };
    document.body.dataset.runId = created.id;
    this.prepareCharts(config);
    this.epoch = 0;
    this.totalEpochs = config.training.epochs;
    this.rateSamples = [];
    this.busy = false;
    this.setStatus("running");
    this.stream = this.followRun(created.events_url, {
      onEvent: (name, data) => this.onRunEvent(name, data),
      onLost: (message) => this.connectionLost(message),
      parseLater: PARSED_WHEN_DRAWN,
    });
    if (paused) {
      await this.sendControl("pause", "paused");
      const pace = config.training.epochs_per_second ?? this.settings.limits.max_epochs_per_second;
      await this.sendLive({ training: { epochs_per_second: pace } });
    }
  }

  async sendControl(action, nextStatus) {
    if (!this.run) return;
    const runId = this.run.id;
    try {
      await this.api.control(runId, { action });
      if (this.run?.id === runId && this.isLive()) this.setStatus(nextStatus);
    } catch (error) {
      // 409: the run ended between the click and the request; its done event says how.
      if (!(error instanceof ApiError && error.status === 409)) this.showApiError(error);
    }
  }

  async reset() {
    const run = this.run;
    this.stream?.close();
    this.stream = null;
    this.run = null;
    delete document.body.dataset.runId;
    clearTimeout(this.liveTimer);
    this.pendingLive = null;
    if (run && this.isLive()) {
      this.api.control(run.id, { action: "stop" }).catch(() => {});
    }
    this.retireFinishedRun();
    this.setStatus("idle");
    this.prepareCharts(this.state.config);
    this.epoch = 0;
    this.totalEpochs = this.state.config.training.epochs;
    this.rateSamples = [];
    this.views.diagnosis.clear();
    this.clearErrors();
    this.views.toolbar.clearMessage();
    this.renderProgress();
  }

  queueLive(partial) {
    this.pendingLive = mergeUpdates(this.pendingLive ?? {}, partial);
    clearTimeout(this.liveTimer);
    this.liveTimer = setTimeout(() => {
      const update = this.pendingLive;
      this.pendingLive = null;
      this.sendLive(update);
    }, LIVE_DEBOUNCE_MS);
  }

  async sendLive(update) {
    if (!this.run || !update) return;
    try {
      await this.api.control(this.run.id, { action: "update", config: update });
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 409)) this.showApiError(error, "config.");
    }
  }

  connectionLost(message) {
    this.message(`${message} Reset to start again.`, "error");
    this.setStatus("idle");
  }

  // --- run events ------------------------------------------------------------

  prepareCharts(config) {
    const { loss, accuracy, gradients, lr, boundary, confusion } = this.charts;
    loss.reset();
    accuracy.reset();
    lr.reset();
    gradients.reset(layerSeries(config.model.hidden.length + 1));
    this.planEpochs(config.training.epochs);
    const digits = config.data.dataset === "digits";
    boundary.element.hidden = digits;
    confusion.element.hidden = !digits;
    document.getElementById("misclassified").hidden = !digits;
    document.getElementById("boundary-caption").textContent = digits
      ? "Dev confusion matrix and misclassified digits" : "Decision boundary (train ●, dev ✕)";
    boundary.reset(null);
    if (digits) {
      confusion.reset();
      document.getElementById("misclassified").replaceChildren();
    }
    this.views.diagnosis.clear(this.run ? "Waiting for the first diagnosis…" : undefined);
    for (const chart of Object.values(this.charts)) chart.refreshVisibility();
    this.refreshGhosts();
  }

  onRunEvent(name, data) {
    if (!this.run) return;
    const handler = {
      config: () => this.onConfig(data),
      metrics: () => this.onMetrics(data),
      boundary: () => this.charts.boundary.setGridSource(data),
      confusion: () => {
        this.charts.confusion.setMatrix(data.matrix);
        this.pending.misclassified = data.misclassified ?? [];
      },
      diagnosis: () => { this.pending.diagnosis = data; },
      update: () => this.onUpdate(data),
      done: () => this.onDone(data),
      error: () => this.onError(data),
    }[name];
    handler?.();
    this.scheduler.request();
  }

  onConfig(data) {
    this.totalEpochs = data.total_epochs ?? data.config?.training?.epochs ?? this.totalEpochs;
    this.planEpochs(this.totalEpochs);
    this.run.summary = data.data ?? null;
    if (data.points) this.charts.boundary.reset(data.points);
    const layers = (data.config?.model?.hidden?.length ?? this.run.config.model.hidden.length) + 1;
    if (layers !== this.charts.gradients.options.series.length) this.charts.gradients.reset(layerSeries(layers));
  }

  onMetrics(data) {
    this.epoch = data.epoch;
    this.rateSamples.push([performance.now(), data.epoch]);
    this.charts.loss.push(data.epoch, { train: data.train_loss, dev: data.dev_loss, cost: data.train_cost });
    this.charts.accuracy.push(data.epoch, { train: data.train_accuracy, dev: data.dev_accuracy });
    this.charts.lr.push(data.epoch, { lr: data.learning_rate });
    const norms = {};
    (data.layers ?? []).forEach((layer, index) => {
      norms[`layer${index + 1}`] = layer.grad_norm > 0 ? layer.grad_norm : null;
    });
    this.charts.gradients.push(data.epoch, norms);
  }

  planEpochs(epochs) {
    const { loss, accuracy, gradients, lr } = this.charts;
    for (const chart of [loss, accuracy, gradients, lr]) chart.planEpochs(epochs);
  }

  onUpdate(data) {
    const label = describeChanges(data.changes);
    if (!label) return;
    for (const chart of [this.charts.loss, this.charts.accuracy, this.charts.lr]) chart.addMarker(data.epoch, label);
  }

  onDone(data) {
    this.stream = null;
    this.epoch = data.epoch ?? this.epoch;
    const diverged = data.reason === "diverged";
    this.setStatus(diverged ? "diverged" : "done");
    const result = `train ${percent(data.train_accuracy)} · dev ${percent(data.dev_accuracy)}`
      + ` · test ${percent(data.test_accuracy)}`;
    if (diverged) {
      const rate = this.state.get("learningRate");
      const lower = Number((rate / 10).toPrecision(2));
      this.message(`Diverged at epoch ${data.epoch}: the loss blew up. Try a lower learning rate.`, "error",
        { label: `Use α = ${lower}`, run: () => this.edit("learningRate", lower, "suggestion") });
    } else if (data.reason === "early_stopped") {
      this.message(`Stopped early at epoch ${data.epoch}; best dev loss at epoch ${data.best_epoch}. ${result}`, "info");
    } else if (data.reason === "stopped") {
      this.message(`Stopped at epoch ${data.epoch}. ${result}`, "info");
    } else {
      this.message(`Done: ${data.epoch} epochs. ${result}`, "info");
    }
    this.finishedRun = {
      config: this.run.config,
      loss: this.charts.loss.snapshot(),
      accuracy: this.charts.accuracy.snapshot(),
      summary: diverged ? "diverged" : `dev ${percent(data.dev_accuracy)}`,
    };
    this.renderProgress();
  }

  onError(data) {
    this.stream = null;
    this.run = null;
    this.setStatus("idle");
    this.message(`The run failed: ${data.message ?? "unknown error"}`, "error");
  }

  frame() {
    const now = performance.now();
    // Without a stream nothing more will come: show everything at once.
    const due = (shownAt, interval) => !this.stream || now - (shownAt ?? -Infinity) >= interval;
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
      this.views.renderMisclassified(this.pending.misclassified);
      this.pending.misclassified = null;
    }
  }

  renderProgress() {
    const now = performance.now();
    while (this.rateSamples.length > 2 && now - this.rateSamples[0][0] > RATE_WINDOW_MS) this.rateSamples.shift();
    let secondsLeft = null;
    if (this.status === "running" && this.rateSamples.length >= 2) {
      const [firstTime, firstEpoch] = this.rateSamples[0];
      const [lastTime, lastEpoch] = this.rateSamples[this.rateSamples.length - 1];
      const rate = (lastEpoch - firstEpoch) / Math.max(1e-3, (lastTime - firstTime) / 1000);
      if (rate > 0) secondsLeft = (this.totalEpochs - this.epoch) / rate;
    }
    this.views.toolbar.setProgress(this.epoch, this.totalEpochs, secondsLeft);
  }

  // --- compare runs ----------------------------------------------------------

  retireFinishedRun() {
    if (!this.finishedRun) return;
    const run = this.finishedRun;
    this.finishedRun = null;
    if (run.loss.epochs.length === 0) return;
    this.ghosts.push({ id: this.nextGhostId, color: GHOST_COLORS[(this.nextGhostId - 1) % GHOST_COLORS.length], ...run });
    this.nextGhostId += 1;
    if (this.ghosts.length > MAX_GHOSTS) this.ghosts.shift();
    this.refreshGhosts();
  }

  removeGhost(id) {
    this.ghosts = this.ghosts.filter((ghost) => ghost.id !== id);
    this.refreshGhosts();
  }

  refreshGhosts() {
    const reference = this.run?.config ?? this.state.config;
    for (const ghost of this.ghosts) ghost.label = describeDifference(ghost.config, reference);
    const curves = (key) => this.ghosts.map((ghost) => ({
      id: ghost.id, label: ghost.label, color: ghost.color, epochs: ghost[key].epochs, values: ghost[key].values,
    }));
    const labels = this.ghosts.map((ghost) => ghost.label).join("|");
    if (labels !== this.ghostSignature) {
      this.ghostSignature = labels;
      this.charts.loss.setGhosts(curves("loss"));
      this.charts.accuracy.setGhosts(curves("accuracy"));
      this.views.compare.render(this.ghosts);
      this.scheduler.request();
    }
  }

  // --- gradient check ----------------------------------------------------------

  async checkGradients(injectBug) {
    this.views.gradcheck.busy();
    try {
      this.views.gradcheck.render(await this.api.gradcheck(clone(this.state.config), injectBug));
    } catch (error) {
      this.views.gradcheck.fail(error.message);
      this.showApiError(error, "config.");
    }
  }

  // --- errors and messages -----------------------------------------------------

  message(text, kind = "info", action = null) { this.views.toolbar.showMessage(text, kind, action); }

  clearErrors() {
    this.views.form.clearErrors();
    this.views.toolbar.clearMessage();
  }

  /** Put a 400's field errors next to their fields and say what happened in the message bar. */
  showApiError(error, prefix = "") {
    if (!(error instanceof ApiError)) {
      this.message(String(error?.message ?? error), "error");
      return;
    }
    if (error.status === 400 && error.details.length) {
      let first = null;
      const unplaced = [];
      for (const { loc, msg } of error.details) {
        const path = loc.startsWith(prefix) ? loc.slice(prefix.length) : loc;
        const key = this.showFieldError(path, msg);
        if (key && !first) first = key;
        if (!key) unplaced.push(`${path || "config"}: ${msg}`);
      }
      const summary = error.details.map(({ loc, msg }) => `${loc.slice(loc.startsWith(prefix) ? prefix.length : 0)}: ${msg}`);
      this.message(`The server did not accept these settings. ${summary.join("; ")}`, "error");
      if (first) this.views.form.focus(first);
      return;
    }
    this.message(error.message, error.status === 429 ? "warning" : "error");
  }

  /** Returns the key of the field that shows the error, or null. */
  showFieldError(path, message) {
    const layer = /^model\.hidden\.(\d+)(\.|$)/.exec(path);
    if (layer) return this.views.network.showError(Number(layer[1]), message) ? "layers" : null;
    if (path === "model.hidden") {
      this.views.form.showError("layers", message);
      return "layers";
    }
    if (path === "data.split") {
      this.views.form.showError("split", message);
      return "train";
    }
    const property = PROPERTY_BY_PATH.get(path);
    if (!property) return null;
    this.views.form.showError(property.key, message);
    return property.key;
  }
}

function mergeUpdates(target, source) {
  for (const [key, value] of Object.entries(source)) {
    if (key === "hidden" && Array.isArray(value)) {
      const merged = target.hidden ?? [];
      value.forEach((layer, index) => { if (layer) merged[index] = { ...(merged[index] ?? {}), ...layer }; });
      target.hidden = Array.from({ length: merged.length }, (_, index) => merged[index] ?? null);
    } else if (value && typeof value === "object") {
      target[key] = mergeUpdates(target[key] ?? {}, value);
    } else {
      target[key] = value;
    }
  }
  return target;
}
