// Composition root: read the page settings, build the state, views and charts,
// and hand them to the controller.  Nothing else in the page touches globals.

import { api, followRun } from "./api.js";
import { BoundaryChart } from "./charts/boundary_chart.js";
import { COLORS, layerSeries } from "./charts/colors.js";
import { ConfusionChart } from "./charts/confusion_chart.js";
import { CurveChart } from "./charts/curve_chart.js";
import { FrameScheduler } from "./charts/frame_scheduler.js";
import { Controller } from "./controller.js";
import { hidePanels, reportHeight } from "./embed.js";
import { allowedValues, bounds, itemDefaults } from "./schema.js";
import { PROPERTIES, PlaygroundState } from "./state.js";
import { FormView } from "./views/form.js";
import { LessonView, ThumbnailsView } from "./views/lesson.js";
import { NetworkView } from "./views/network.js";
import { OutputsView } from "./views/outputs.js";
import { CompareView, DiagnosisView, GradcheckView } from "./views/panels.js";
import { ShareView } from "./views/share.js";
import { SummaryView } from "./views/summary.js";
import { ToolbarView } from "./views/toolbar.js";

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
  return allowed;
}

function buildCharts() {
  return {
    loss: new CurveChart(byTestId("loss-chart"), {
      yTitle: "loss",
      series: [
        { key: "train", name: "train", color: COLORS.train },
        { key: "dev", name: "dev", color: COLORS.dev },
        { key: "cost", name: "train cost", color: COLORS.cost, dash: "dot" },
      ],
      ghostKeys: ["train", "dev"],
    }),
    accuracy: new CurveChart(byTestId("accuracy-chart"), {
      yTitle: "accuracy",
      series: [
        { key: "train", name: "train", color: COLORS.train },
        { key: "dev", name: "dev", color: COLORS.dev },
      ],
      ghostKeys: ["train", "dev"],
    }),
    boundary: new BoundaryChart(byTestId("boundary-chart")),
    confusion: new ConfusionChart(byTestId("confusion-chart")),
    gradients: new CurveChart(byTestId("gradients-chart"), {
      yTitle: "‖dW‖", series: layerSeries(2), smoothable: false, logY: true, decadeTicks: true,
      redrawIntervalMs: 400,
    }),
    lr: new CurveChart(byTestId("lr-chart"), {
      yTitle: "α", series: [{ key: "lr", name: "learning rate", color: COLORS.lr }], smoothable: false, fromZero: true,
      redrawIntervalMs: 500,
    }),
  };
}

function main() {
  const settings = JSON.parse(byId("page-settings").textContent);
  const { schema } = settings;
  const allowed = allowedByPath(schema);
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
  const views = {
    form: new FormView(document.body, {
      schema, allowed, fullBatchSize: bounds(schema, "training.batch_size").max,
    }),
    network: new NetworkView({
      list: byId("layers"), diagram: byId("network-diagram"), addButton: byId("add-layer"),
      removeButton: byId("remove-layer"), count: byId("layer-count"),
    }, {
      activations: allowedValues(schema, "model.hidden.activation"),
      maxLayers: settings.limits.max_hidden_layers,
      unitBounds: bounds(schema, "model.hidden.units"),
    }),
    toolbar: new ToolbarView(document.body),
    diagnosis: new DiagnosisView(byId("diagnosis")),
    gradcheck: new GradcheckView({ button: byId("gradcheck"), toggle: byId("break-backprop"), result: byId("gradcheck-result") }),
    compare: new CompareView(byId("ghosts")),
    lesson: new LessonView({
      picker: byId("preset-picker"), box: byId("lesson"), title: byId("lesson-title"),
      explanation: byId("lesson-explanation"), look: byId("lesson-look"), lookLabel: byId("lesson-look-label"),
      next: byId("lesson-next"), nextLabel: byId("lesson-next-label"),
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
      gapNote: byId("stream-gap"),
    }),
  };
  const charts = buildCharts();
  const scheduler = new FrameScheduler(
    [charts.loss, charts.accuracy, charts.boundary, charts.confusion, charts.gradients, charts.lr]);
  const controller = new Controller({ state, settings, api, followRun, views, charts, scheduler });
  document.body.dataset.ready = "loading";
  controller.start().finally(() => { document.body.dataset.ready = "true"; });
}

main();
