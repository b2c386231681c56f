// The controller: turns user intent (edits, presets, play/pause/step/reset,
// gradient checks) into state changes and run-session calls, and a run's
// lifecycle events into status and messages.  Views own the DOM; the dashboard
// draws the run; the session talks to the server.

import { percent } from "./describe.js";
import { t } from "./i18n.js";
import { PROPERTIES, PROPERTY_BY_KEY, clone, setPath } from "./state.js";
import { isUpload } from "./views/upload.js";


// Settings that change what the engine's preview says (inputs, classes, split sizes, parameters).
const SHAPE_KEYS = ["dataset", "samples", "train", "dev", "test", "trainDev", "layers", "features", "dataSeed", "noise",
  "labelNoise", "devNoise", "bayesError", "seed"];

export class Controller {
  /**
   * ``live``: the schema's live fields, path to display symbol (``liveFields``);
   * the rest are the page's parts (see main.js), whose callbacks the controller takes.
   */
  constructor({ state, settings, api, views, scheduler, live, dashboard, session, ghosts, url, preview, errors }) {
    Object.assign(this, { state, settings, api, views, scheduler, live, dashboard, session, ghosts, url, preview, errors });
    this.status = "idle";
    this.busy = false;
    this.pauseAfterFirstEpoch = false;
    this.finishedRun = null;
    this.presets = [];
    this.shape = null;
    session.bind({
      onEvent: (name, data) => this.onRunEvent(name, data),
      onLost: (message) => this.connectionLost(message),
      onError: (error, prefix) => this.errors.show(error, prefix),
    });
    preview.bind({ onShape: (answer) => this.showShape(answer), onInvalid: () => this.showShape(null) });
    url.bindWarnings((warnings) => this.message(t("Some settings in the link were not used: {warnings}.", { warnings: warnings.join("; ") }),
      "warning"));
  }

  // --- wiring ----------------------------------------------------------------

  start() {
    const { form, network, toolbar, gradcheck, lesson, share, thumbnails } = this.views;
    form.bindChange((key, value) => this.edit(key, value));
    network.bindChange((layers, index, change) => this.editLayers(layers, index, change));
    network.bindAdd(() => this.addLayer());
    network.bindRemove(() => this.removeLayer());
    toolbar.bindStart(() => this.toggle());
    toolbar.bindStep(() => this.step());
    toolbar.bindReset(() => this.reset());
    gradcheck.bindCheck((injectBug) => this.checkGradients(injectBug));
    lesson.bindPick((id) => this.pickPreset(id));
    lesson.bindCounterfactual(() => this.runCounterfactual());
    share.bindLink(() => this.url.shareLink());
    share.bindEmbed(() => this.url.embedSnippet());
    thumbnails.bindPick((dataset) => this.edit("dataset", dataset, "thumbnail"));
    this.state.onChange((keys, source) => this.stateChanged(keys, source));
    document.addEventListener("keydown", (event) => this.shortcut(event));

    form.render(this.state);
    this.dashboard.setTotal(this.state.config.training.epochs);
    this.renderDerived(PROPERTIES.map((property) => property.key));
    this.setStatus("idle");
    return this.loadPresets();
  }

  async loadPresets() {
    const { preset, autoplay } = this.settings;
    try {
      this.presets = await this.api.presets();
    } catch (error) {
      if (preset) this.message(t("Could not load the lesson \"{preset}\": {error}", { preset, error: error.message }), "error");
      this.presets = [];
    }
    if (!Array.isArray(this.presets)) this.presets = [];
    this.views.lesson.setPresets(this.presets);
    const fragment = window.location.hash;
    if (preset) {
      const found = this.presets.find((candidate) => candidate.id === preset);
      if (found) this.applyPreset(found, { writeUrl: false });
      else if (this.presets.length) this.message(t("There is no lesson called \"{preset}\".", { preset }), "error");
    }
    this.url.read(fragment);
    if (autoplay && this.status === "idle") await this.startRun();
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
    // Digits takes its pixels, and only the default features.
    if (key === "dataset" && value === "digits") this.state.config.data.features = clone(this.state.defaults.data.features);
    this.state.set(key, value, source);
    const property = PROPERTY_BY_KEY.get(key);
    if (this.isLive() && this.live.has(property.path)) {
      const pace = key === "speed" && value === null ? this.settings.limits.max_epochs_per_second : value;
      const partial = {};
      setPath(partial, property.path, pace);
      this.session.queueLive(partial);
    }
  }

  editLayers(layers, index, change) {
    this.state.set("layers", layers, "form");
    if (this.isLive() && Object.keys(change).every((name) => this.live.has(`model.hidden.${name}`))) {
      const hidden = layers.map((_, at) => (at === index ? change : null));
      this.session.queueLive({ model: { hidden } });
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
    this.url.writeSoon();
  }

  renderDerived(keys) {
    const changed = new Set(keys);
    const config = this.state.config;
    if (changed.has("layers")) this.renderNetwork();
    // An idle page's per-layer legends follow the network being built, not the one it started with.
    if (changed.has("layers") && this.status === "idle") this.dashboard.showLayers(config.model.hidden.length);
    if (SHAPE_KEYS.some((key) => changed.has(key))) this.preview.request(config);
    if (["dataset", "noise", "labelNoise", "seed"].some((key) => changed.has(key))) this.renderThumbnails();
    if (changed.has("smoothing")) this.dashboard.setSmoothing(this.state.get("smoothing"));
    if (changed.has("logY")) this.dashboard.setLogY(this.state.get("logY"));
    if (changed.has("chart")) this.dashboard.setChartMode(this.state.get("chart"));
    if (changed.has("weights")) this.dashboard.setWeights(this.state.get("weights"));
    if (changed.has("features")) this.views.network.setFeatures(this.state.get("features"));
    if (changed.has("showTestData")) this.dashboard.setShowTest(this.state.get("showTestData"));
    if (changed.has("discretize")) this.dashboard.setDiscretize(this.state.get("discretize"));
    if (changed.has("batchSize")) this.renderSummary();
    if (changed.has("epochs") && this.status === "idle") {
      this.dashboard.setTotal(config.training.epochs);
      this.dashboard.renderProgress();
    }
    if (this.ghosts.count) this.ghosts.refresh(this.reference());
    this.scheduler.request();
  }

  /** The engine's preview of the current config, or null when the server refused it. */
  showShape(preview) {
    this.shape = preview;
    this.views.form.setPreview({ is_2d: preview?.data.is_2d }, this.state.config);
    if (preview && !this.isLive()) this.dashboard.showData(preview);
    this.views.network.setShape(this.networkShape());
    this.renderSummary();
  }

  networkShape() {
    const data = this.shape?.data;
    return data ? { inputs: data.n_features, outputs: data.n_classes, parameters: this.shape.parameters, is2d: data.is_2d }
      : null;
  }

  /** New data from a seed of their own; the network (its layers and initial weights) stays. */
  regenerateData() {
    if (this.isLive() || this.busy) return;
    this.edit("dataSeed", Math.floor(Math.random() * 2 ** 31), "regenerate");
  }

  /** An input feature clicked in the diagram: in use or not (one must stay), in the schema's order. */
  toggleFeature(name) {
    if (this.isLive() || this.busy) return;
    if (isUpload(this.state.get("dataset"))) {
      // The server refuses engineered features of an upload: its own columns are the inputs.
      this.message(t("Input features are for the generated data sets: an upload's own two columns are its inputs."));
      return;
    }
    const current = this.state.get("features");
    const next = current.includes(name)
      ? current.filter((feature) => feature !== name)
      : this.state.allowed.get("data.features").filter((feature) => feature === name || current.includes(feature));
    if (next.length) this.edit("features", next, "diagram");
  }

  renderNetwork() { this.views.network.render(this.state.get("layers"), this.networkShape()); }

  renderSummary() { this.views.summary.render(this.shape?.data.sizes ?? null, this.state.get("batchSize")); }

  renderThumbnails() {
    this.views.thumbnails.render({
      dataset: this.state.get("dataset"), noise: this.state.get("noise"), labelNoise: this.state.get("labelNoise"),
      seed: this.state.get("seed"), locked: this.isLive(),
    });
  }

  /** Whether the previewed data have no boundary picture (not 2-D; the run's config event says it for sure). */
  withoutBoundary() { return this.shape ? !this.shape.data.is_2d : false; }

  /** The config ghosts are compared with: the run's while one is followed, else the form's. */
  reference() { return this.session.run?.config ?? this.state.config; }

  // --- presets ---------------------------------------------------------------

  pickPreset(id) {
    const preset = this.presets.find((candidate) => candidate.id === id);
    if (!preset) {
      this.activePreset = null;
      this.views.lesson.show(null);
      return;
    }
    if (this.isLive()) this.reset();
    this.applyPreset(preset, { writeUrl: true });
  }

  /** A lesson's config, and its view hints: lessons show the raw curves unless they ask for smoothing. */
  applyPreset(preset, { writeUrl }) {
    const hints = preset.view ?? {};
    this.state.replaceConfig(preset.config ?? {}, "preset", {
      smoothing: hints.smoothing ?? 0, chart: hints.chart ?? "epoch", weights: hints.weights ?? false,
      showTestData: hints.test_data ?? false,
    });
    this.activePreset = preset;
    this.views.lesson.show(preset);
    if (writeUrl) this.url.write();
  }

  /**
   * The lesson's one-click counterfactual: train its twin (the current settings
   * with the preset's ``counterfactual.config`` merged in, as the server merges it) and keep it as a
   * ghost named by ``counterfactual.difference``, for the lesson's run to be drawn against.
   */
  async runCounterfactual() {
    const counterfactual = this.activePreset?.counterfactual;
    if (!counterfactual || this.busy) return;
    if (this.isLive()) this.reset();
    await this.startRun({ config: this.state.withChanges(counterfactual.config ?? {}), ghostLabel: counterfactual.difference ?? counterfactual.label });
  }

  // --- the run's lifecycle ---------------------------------------------------

  isLive() { return this.status === "running" || this.status === "paused"; }

  setStatus(status, busy = false) {
    this.status = status;
    this.dashboard.running = status === "running";
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
  async startRun({ paused = false, config = clone(this.state.config), ghostLabel = null } = {}) {
    this.errors.clear();
    this.busy = true;
    this.setStatus(this.status, true);
    let created;
    try {
      created = await this.session.start(config, { paused });
    } catch (error) {
      this.busy = false;
      this.setStatus(this.status);
      this.errors.show(error);
      return;
    }
    this.retireFinishedRun();
    this.runGhostLabel = ghostLabel;
    this.views.toolbar.setRunId(created.id);
    this.dashboard.prepare(config, { waiting: true, withoutBoundary: this.withoutBoundary() });
    this.ghosts.refresh(this.reference());
    this.busy = false;
    this.setStatus("running");
    this.pauseAfterFirstEpoch = paused;
  }

  /**
   * A step-started run trains its first epoch at once and then waits (its pace
   * is tiny): pause it once that epoch is in, never before, since starting a
   * training process may take longer than the pause request.
   */
  async pauseFirstEpoch() {
    this.pauseAfterFirstEpoch = false;
    await this.sendControl("pause", "paused");
    await this.session.restorePace();
  }

  async sendControl(action, nextStatus) {
    if (await this.session.control(action) && this.isLive()) this.setStatus(nextStatus);
  }

  reset() {
    this.pauseAfterFirstEpoch = false;
    this.session.close({ stopRun: this.isLive() });
    this.views.toolbar.setRunId(null);
    this.retireFinishedRun();
    this.setStatus("idle");
    this.dashboard.prepare(this.state.config, { withoutBoundary: this.withoutBoundary() });
    this.ghosts.refresh(this.reference());
    this.views.diagnosis.clear();
    this.errors.clear();
    this.dashboard.renderProgress();
  }

  connectionLost(message) {
    this.message(t("{message} Reset to start again.", { message }), "error");
    this.setStatus("idle");
  }

  onRunEvent(name, data) {
    this.dashboard.handle(name, data);
    if (name === "metrics" && data.epoch >= 1 && this.pauseAfterFirstEpoch) this.pauseFirstEpoch();
    if (name === "done") this.onDone(data);
    else if (name === "error") this.onError(data);
  }

  onDone(data) {
    const diverged = data.reason === "diverged";
    this.setStatus(diverged ? "diverged" : "done");
    const result = t("train {train} · dev {dev} · test {test}", {
      train: percent(data.train_accuracy), dev: percent(data.dev_accuracy), test: percent(data.test_accuracy) });
    if (diverged) {
      const rate = this.state.get("learningRate");
      const lower = Number((rate / 10).toPrecision(2));
      this.message(t("Diverged at epoch {epoch}: the loss blew up. Try a lower learning rate.", { epoch: data.epoch }),
        "error", { label: t("Use α = {rate}", { rate: lower }), run: () => this.edit("learningRate", lower, "suggestion") });
    } else if (data.reason === "early_stopped") {
      this.message(t("Stopped early at epoch {epoch}; best dev loss at epoch {best}. {result}",
        { epoch: data.epoch, best: data.best_epoch, result }), "info");
    } else if (data.reason === "stopped") {
      this.message(t("Stopped at epoch {epoch}. {result}", { epoch: data.epoch, result }), "info");
    } else {
      this.message(t("Done: {epoch} epochs. {result}", { epoch: data.epoch, result }), "info");
    }
    this.finishedRun = {
      config: this.session.run.config, label: this.runGhostLabel, ...this.dashboard.snapshot(),
      summary: diverged ? "diverged" : `dev ${percent(data.dev_accuracy)}`,
    };
    if (this.runGhostLabel) {
      this.reset();
      this.message(t("The twin run ({label}) is kept as a ghost: train the lesson to see the difference. {result}",
        { label: this.runGhostLabel, result }), "info");
      return;
    }
    this.dashboard.renderProgress();
  }

  onError(data) {
    this.session.close();
    this.setStatus("idle");
    this.message(t("The run failed: {error}", { error: data.message ?? t("unknown error") }), "error");
  }

  retireFinishedRun() {
    if (!this.finishedRun) return;
    const run = this.finishedRun;
    this.finishedRun = null;
    this.ghosts.add(run, this.reference());
  }

  // --- gradient check ----------------------------------------------------------

  async checkGradients(injectBug) {
    this.views.gradcheck.busy();
    try {
      this.views.gradcheck.render(await this.api.gradcheck(clone(this.state.config), injectBug));
    } catch (error) {
      this.views.gradcheck.fail(error.message);
      this.errors.show(error, "config.");
    }
  }

  message(text, kind = "info", action = null) { this.views.toolbar.showMessage(text, kind, action); }
}
