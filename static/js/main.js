// Composition root: read the page settings, build the state, views, charts and
// the parts that drive them (run session, dashboard, ghosts, URL sync, preview,
// field errors), and wire them to the controller.

import { api, followRun } from "./api.js";
import { BoundaryChart } from "./charts/boundary_chart.js";
import { ConfusionChart } from "./charts/confusion_chart.js";
import { CurveChart } from "./charts/curve_chart.js";
import { FrameScheduler } from "./charts/frame_scheduler.js";
import { ITERATION_SERIES, LEARNING_RATE_SERIES, accuracySeries, layerSeries, lossSeries } from "./charts/series.js";
import { Controller } from "./controller.js";
import { Dashboard } from "./dashboard.js";
import { FieldErrors } from "./field_errors.js";
import { Ghosts } from "./ghosts.js";
import { Preview } from "./preview.js";
import { RunSession } from "./run_session.js";
import { UrlSync } from "./url_sync.js";
import { hidePanels, reportHeight } from "./embed.js";
import { allowedValues, bounds, fieldSchema, itemDefaults, liveFields } from "./schema.js";
import { PROPERTIES, PlaygroundState, clone } from "./state.js";
import { FormView } from "./views/form.js";
import { LessonView, ThumbnailsView } from "./views/lesson.js";
import { NetworkView } from "./views/network.js";
import { NetworkDiagram } from "./views/network_diagram.js";
import { OutputsView } from "./views/outputs.js";
import { DownloadsView } from "./views/downloads.js";
import { CompareView, DiagnosisView, GradcheckView } from "./views/panels.js";
import { ShareView } from "./views/share.js";
import { SummaryView } from "./views/summary.js";
import { ToolbarView } from "./views/toolbar.js";
import { UploadView } from "./views/upload.js";
import { AddPointsView } from "./views/add_points.js";

const byId = (id) => document.getElementById(id);
const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);

function allowedByPath(schema) {
  const allowed = new Map();
  for (const property of PROPERTIES) {
    if (property.scope !== "config") continue;
    const values = allowedValues(schema, property.path);
    if (values) allowed.set(property.path, values);
  }
  allowed.set("model.hidden.activation", allowedValues(schema, "model.hidden.activation"));
  allowed.set("data.features", fieldSchema(schema, "data.features").items.enum);
  return allowed;
}

function buildCharts() {
  const layerChart = (testid, yTitle, options) => new CurveChart(byTestId(testid), {
    yTitle, series: layerSeries(2), smoothable: false, redrawIntervalMs: 400, ...options,
  });
  return {
    loss: new CurveChart(byTestId("loss-chart"), { yTitle: "loss", series: lossSeries(), ghostKeys: ["train", "dev"] }),
    iteration: new CurveChart(byTestId("iteration-chart"), {
      yTitle: "mini-batch cost", xTitle: "iteration", series: ITERATION_SERIES, ghostKeys: ["cost"],
    }),
    accuracy: new CurveChart(byTestId("accuracy-chart"), {
      yTitle: "accuracy", series: accuracySeries(), ghostKeys: ["train", "dev"],
    }),
    boundary: new BoundaryChart(byTestId("boundary-chart")),
    confusion: new ConfusionChart(byTestId("confusion-chart")),
    gradients: layerChart("gradients-chart", "‖dW‖", { logY: true, decadeTicks: true }),
    weights: layerChart("weights-chart", "‖W‖", { fromZero: true }),
    lr: new CurveChart(byTestId("lr-chart"), {
      yTitle: "α", series: LEARNING_RATE_SERIES, smoothable: false, fromZero: true, redrawIntervalMs: 500,
    }),
  };
}

/**
 * Uploads select themselves (with all their rows), the boundary chart names a 2-D one's classes,
 * and a click on it can add a point to one; the download links follow the run and its status.
 */
function wireFiles(state, controller, session, boundary) {
  const uploads = new UploadView({
    input: byId("upload-file"), drop: byId("upload-drop"), status: byId("upload-status"),
    preview: byId("upload-preview"), select: byTestId("dataset"),
  });
  const adding = new AddPointsView({
    box: byId("add-points-box"), toggle: byId("f-add-points"), select: byId("add-points-class"),
    chart: byTestId("boundary-chart"), status: byId("upload-status"),
  });
  const use = (info) => {
    state.config.data.features = clone(state.defaults.data.features);
    state.config.data.n_samples = info.n_samples;
    state.set("dataset", info.dataset, "upload");
    state.notify(["samples", "features"], "upload");
  };
  uploads.bindUploaded((info) => { if (!controller.isLive()) use(info); });
  const showAdding = () => {
    const info = uploads.known.get(state.get("dataset")) ?? null;
    adding.render(info);
    boundary.setClassNames(info?.n_features === 2 ? info.classes : null);
  };
  uploads.bindKnown(showAdding);
  state.onChange((keys) => {
    if (!keys.includes("dataset")) return;
    uploads.follow(state.get("dataset"));
    showAdding();
  });
  adding.bindClick(async (point, info) => {
    if (controller.isLive()) return;
    const grown = await adding.send(point, info, state.config);
    if (!grown) return;
    uploads.remember(grown, uploads.nameOf(info.dataset), info.dataset);
    use(grown);
  });
  const downloads = new DownloadsView({
    metrics: byId("download-metrics"), json: byId("download-json"), pytorch: byId("download-pytorch"),
    cards: [...document.querySelectorAll(".charts .chart-card")],
  });
  const status = byId("status");
  new MutationObserver(() => downloads.render(session.id, status.dataset.status))
    .observe(status, { attributes: true, attributeFilter: ["data-status"] });
}

function main() {
  const settings = JSON.parse(byId("page-settings").textContent);
  const { schema } = settings;
  const allowed = allowedByPath(schema);
  const live = liveFields(schema);
  if (settings.embed) {
    hidePanels(settings.hide);
    reportHeight();
  }

  const state = new PlaygroundState({
    defaults: settings.defaults,
    pageDefaults: settings.pageDefaults,
    allowed,
    layerDefaults: itemDefaults(schema, "model.hidden"),
  });
  const diagram = new NetworkDiagram(byId("network-diagram"), { features: allowed.get("data.features") });
  const views = {
    form: new FormView(document.body, {
      schema, allowed, live, fullBatchSize: bounds(schema, "training.batch_size").max,
    }),
    network: new NetworkView({
      list: byId("layers"), diagram, addButton: byId("add-layer"),
      removeButton: byId("remove-layer"), count: byId("layer-count"),
    }, {
      activations: allowedValues(schema, "model.hidden.activation"),
      maxLayers: settings.limits.max_hidden_layers,
      unitBounds: bounds(schema, "model.hidden.units"), live,
    }),
    toolbar: new ToolbarView(document.body),
    diagnosis: new DiagnosisView(byId("diagnosis")),
    gradcheck: new GradcheckView({ button: byId("gradcheck"), toggle: byId("break-backprop"), result: byId("gradcheck-result") }),
    compare: new CompareView(byId("ghosts")),
    lesson: new LessonView({
      picker: byId("preset-picker"), box: byId("lesson"), title: byId("lesson-title"),
      explanation: byId("lesson-explanation"), look: byId("lesson-look"), lookLabel: byId("lesson-look-label"),
      next: byId("lesson-next"), nextLabel: byId("lesson-next-label"), counterfactual: byId("lesson-counterfactual"),
    }),
    share: new ShareView({
      linkButton: byId("share-link"), embedButton: byId("copy-embed"), output: byId("share-output"),
      text: byId("share-text"), label: byId("share-label"), note: byId("share-note"), fullPageLink: byId("open-full"),
    }),
    thumbnails: new ThumbnailsView(byId("thumbnails"), settings.datasets2d),
    summary: new SummaryView({ splitSizes: byId("split-sizes"), batchMode: byId("batch-mode") }),
    outputs: new OutputsView({
      smoothingValue: byId("smoothing-value"), boundary: byTestId("boundary-chart"),
      confusion: byTestId("confusion-chart"), misclassified: byId("misclassified"), caption: byId("boundary-caption"),
      gapNote: byId("stream-gap"), lossCard: byTestId("loss-chart").closest("figure"),
      iterationCard: byId("iteration-card"), gradientsCard: byId("gradients-card"), weightsCard: byId("weights-card"),
      gradientsNote: byId("gradients-note"),
    }),
  };
  const charts = { ...buildCharts(), neurons: diagram };
  const scheduler = new FrameScheduler(Object.values(charts));
  const session = new RunSession({ api, followRun, maxPace: settings.limits.max_epochs_per_second });
  const dashboard = new Dashboard({
    charts, views, scheduler, symbols: live, isStreaming: () => session.streaming,
  });
  const ghosts = new Ghosts({ view: views.compare, symbols: live });
  ghosts.bindShow((curves) => dashboard.setGhosts(curves));
  const controller = new Controller({
    state, settings, api, views, scheduler, live, dashboard, session, ghosts,
    url: new UrlSync({ state, shareView: views.share }), preview: new Preview({ api }), errors: new FieldErrors(views),
  });
  wireFiles(state, controller, session, charts.boundary);
  diagram.bindShowMap((map) => charts.boundary.showMap(map));
  diagram.bindToggleFeature((name) => controller.toggleFeature(name));
  byId("regenerate-data").addEventListener("click", () => controller.regenerateData());
  document.body.dataset.ready = "loading";
  controller.start().finally(() => { document.body.dataset.ready = "true"; });
}

main();
