// The trials of the search on screen: the model the charts and table draw.

import { setPath } from "../js/state.js";

export class SearchResults {
  constructor() { this.reset(); }

  reset() {
    this.id = null;
    this.definition = null;
    this.planned = 0;
    this.trials = new Map();
    this.bestIndex = null;
    this.status = "idle";
    this.parent = null;
  }

  /** The first event: the normalized definition and how many trials will run. */
  begin(event) {
    this.id = event.id;
    this.definition = event.definition;
    this.planned = event.planned_trials;
    this.parent = event.parent;
    this.status = "running";
  }

  /** A trial started (status running) or finished: merge what the event says. */
  update(trial) {
    const known = this.trials.get(trial.index) ?? {};
    this.trials.set(trial.index, { ...known, ...trial });
  }

  setBest(best) { this.bestIndex = best.index; }

  finish(done) { this.status = done.reason === "completed" ? "done" : done.reason; }

  get objective() { return this.definition?.objective ?? "dev_accuracy"; }

  get paths() { return Object.keys(this.definition?.space ?? {}); }

  /** "beta" for a parameter sampled as 1 - beta on a log scale (shown with more digits), else "float". */
  kindOf(path) {
    return this.definition?.space[path]?.distribution === "one_minus_log_uniform" ? "beta" : "float";
  }

  get finished() { return [...this.trials.values()].filter((trial) => trial.status !== "running"); }

  /** Trials with a value of the objective (completed ones), in index order. */
  get scored() {
    return [...this.trials.values()].filter((trial) => trial.status === "completed"
      && typeof trial[this.objective] === "number").sort((a, b) => a.index - b.index);
  }

  get best() { return this.bestIndex === null ? null : this.trials.get(this.bestIndex); }

  /** The full run config a trial trained: the base with its sampled values written in. */
  runConfig(trial) {
    if (trial.run_config) return trial.run_config;
    const config = structuredClone(this.definition.base);
    // setPath walks arrays by their string keys too, so model.hidden.0.units works.
    for (const [path, value] of Object.entries(trial.config)) setPath(config, path, value);
    return config;
  }
}
