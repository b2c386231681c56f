// The search page's composition root: the form, the stream, the charts and
// the table, wired to the searches API.

import { t } from "../js/i18n.js";
import { ApiError } from "../js/api.js";
import { CLIENT_HEADER, clientToken } from "../js/client_token.js";
import { OBJECTIVE_LABEL, SearchCharts, TIE_BREAK } from "./charts.js";
import { formatValue } from "./params.js";
import { playgroundHref } from "./playground-link.js";
import { SearchResults } from "./results.js";
import { FormError, SpaceForm } from "./space-form.js";
import { followSearch } from "./stream.js";
import { TrialsTable } from "./table.js";

async function postJson(url, body) {
  let response;
  try {
    response = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json",
      [CLIENT_HEADER]: clientToken() },
      body: JSON.stringify(body) });
  } catch {
    throw new ApiError(0, null, null);
  }
  const payload = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, payload, response.headers.get("Retry-After"));
  return payload;
}

class SearchPage {
  constructor(root, settings) {
    this.root = root;
    this.form = new SpaceForm(root, settings);
    this.results = new SearchResults();
    // The rounds a zoomed search came from, oldest first: the scatter keeps them under the new one.
    this.rounds = [];
    this.charts = new SearchCharts(root.querySelector("#search-scatter"), root.querySelector("#search-parcoords"),
      root.querySelector("#scatter-title"));
    this.table = new TrialsTable(root.querySelector("#search-table"));
    this.stream = null;
    this.controlUrl = null;
    this.frame = null;
    this.node = (id) => root.querySelector(`#${id}`);
    this.node("search-start").addEventListener("click", () => this.start());
    this.node("search-stop").addEventListener("click", () => this.stop());
    this.node("search-zoom").addEventListener("click", () => this.zoom());
    this.renderPresets(settings.presets);
  }

  renderPresets(presets) {
    const container = this.node("presets");
    for (const preset of presets) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = preset.title;
      button.title = preset.description;
      button.setAttribute("data-testid", `search-preset-${preset.id}`);
      button.addEventListener("click", () => this.form.load(preset.definition));
      container.append(button);
    }
  }

  async start() {
    let definition;
    try {
      definition = this.form.read();
    } catch (error) {
      if (error instanceof FormError) return this.showError(t("Check the form"), error.details);
      throw error;
    }
    await this.launch(() => postJson("/api/searches", definition));
  }

  async zoom() {
    const topK = Number(this.node("search-top-k").value);
    await this.launch(() => postJson(this.controlUrl, { action: "zoom", top_k: topK }));
  }

  async stop() {
    try {
      await postJson(this.controlUrl, { action: "stop" });
    } catch (error) {
      return this.showError(error.message, error.details ?? []);
    }
    if (this.results.status === "running") this.results.status = "stopping";
    this.render();
  }

  /** POST something that creates a search, then follow it. */
  async launch(post) {
    this.showError(null);
    this.node("search-start").disabled = true;
    let created;
    try {
      created = await post();
    } catch (error) {
      this.node("search-start").disabled = false;
      return this.showError(error.message, error.details ?? []);
    }
    this.stream?.close();
    const zoomedFrom = created.parent && created.parent.id === this.results.id;
    this.rounds = zoomedFrom ? [...this.rounds, this.results] : [];
    this.results = new SearchResults();
    this.controlUrl = created.control_url;
    if (created.parent) this.form.load(created.definition);
    this.render();
    this.stream = followSearch(created.events_url, {
      onEvent: (name, data) => this.onEvent(name, data),
      onLost: (message) => {
        this.results.status = "lost";
        this.showError(message);
        this.render();
      },
    });
  }

  onEvent(name, data) {
    if (name === "search") this.results.begin(data);
    else if (name === "trial") this.results.update(data);
    else if (name === "best") this.results.setBest(data);
    else if (name === "done") {
      this.results.finish(data);
      if (data.message) this.showError(data.message);
    }
    this.requestRender();
  }

  // A reconnect replays hundreds of events at once: draw once per animation frame.
  requestRender() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      this.render();
    });
  }

  render() {
    const results = this.results;
    const active = results.status === "running" || results.status === "stopping";
    this.node("search-status").textContent = results.status;
    this.node("search-start").disabled = active;
    this.node("search-stop").disabled = !active;
    this.node("search-zoom").disabled = results.scored.length === 0;
    this.node("search-progress").textContent = results.definition
      ? t("{finished} of {planned} trials finished", { finished: results.finished.length, planned: results.planned }) : "";
    const topK = results.parent?.top_k;
    this.node("search-lineage").textContent = !results.parent ? ""
      : topK === 1 ? t("zoomed in around the best trial of the previous search")
        : t("zoomed in around the best {count} trials of the previous search", { count: topK });
    this.renderBest();
    this.table.draw(results);
    this.charts.draw(results, this.rounds);
  }

  renderBest() {
    const best = this.results.best;
    const box = this.node("best-trial");
    box.hidden = !best;
    if (!best) return;
    const objective = this.results.objective;
    const values = Object.entries(best.config)
      .map(([path, value]) => `${path} = ${formatValue(value, this.results.kindOf(path))}`);
    const tieBreak = TIE_BREAK[objective];
    this.node("best-summary").textContent = t("trial {index}: {objective} {value} ({tieBreak} {tieValue}, which breaks ties) with {values}", {
      index: best.index, objective: t(OBJECTIVE_LABEL[objective]), value: formatValue(best[objective]),
      tieBreak: t(OBJECTIVE_LABEL[tieBreak]), tieValue: formatValue(best[tieBreak]), values: values.join(", ") });
    const link = this.node("best-open");
    link.href = playgroundHref(this.results.runConfig(best));
    link.dataset.index = String(best.index);
  }

  showError(message, details = []) {
    // Mark the rows whose parameter the server named (loc "space.<path>...").
    for (const row of this.root.querySelectorAll(".param-row")) {
      const path = row.dataset.path;
      row.classList.toggle("invalid", details.some((detail) => detail.loc === `space.${path}`
        || String(detail.loc).startsWith(`space.${path}.`)));
    }
    const box = this.node("search-error");
    box.hidden = !message;
    box.replaceChildren();
    if (!message) return;
    const title = document.createElement("p");
    title.textContent = message;
    box.append(title);
    if (details.length) {
      const list = document.createElement("ul");
      for (const detail of details) {
        const item = document.createElement("li");
        item.textContent = detail.loc ? `${detail.loc}: ${detail.msg}` : detail.msg;
        list.append(item);
      }
      box.append(list);
    }
  }
}

/** The config's JSON Schema: the bounds of every hyperparameter row. */
async function loadSchema() {
  const response = await fetch("/api/schema", { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`GET /api/schema answered ${response.status}`);
  return response.json();
}

const settings = JSON.parse(document.getElementById("search-settings").textContent);
try {
  // Exposed for scripted checks of the page (the browser tests read its state).
  window.searchPage = new SearchPage(document, { ...settings, schema: await loadSchema() });
  document.body.dataset.ready = "true";
} catch (error) {
  const box = document.getElementById("search-error");
  box.textContent = t("The page could not load the config schema: {error}", { error: error.message });
  box.hidden = false;
}
