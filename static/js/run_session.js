// One run on the server: create it, follow its event stream, send it controls
// and (debounced) live changes.  It knows nothing of the DOM.

import { ApiError } from "./api.js";

const LIVE_DEBOUNCE_MS = 250;
// While a step-started run reaches its first epoch, it waits this long before a second one.
const STEP_START_PACE = 0.01;
// Only the newest of these is drawn: its JSON is parsed then, not on arrival.
const PARSED_WHEN_DRAWN = new Set(["boundary"]);

/** A 409 means the run ended between the click and the request; its ``done`` event says how. */
const endedMeanwhile = (error) => error instanceof ApiError && error.status === 409;

/**
 * Merge partial config ``source`` into ``target``.  ``hidden`` lists are merged
 * by position (``null`` keeps a layer as it is), as the server applies them.
 */
export function mergeUpdates(target, source) {
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

export class RunSession {
  constructor({ api, followRun, maxPace }) {
    Object.assign(this, { api, followRun, maxPace });
    this.run = null;
    this.stream = null;
    this.pendingLive = null;
    this.liveTimer = null;
  }

  /**
   * ``onEvent(name, data)`` hears every event of the stream; ``onLost(message)``
   * when it cannot be recovered; ``onError(error, prefix)`` when the server refused a
   * control or a live change (``prefix`` is where the config sits in its field locations).
   */
  bind({ onEvent, onLost, onError }) { Object.assign(this, { onEvent, onLost, onError }); }

  get id() { return this.run?.id ?? null; }

  get streaming() { return this.stream !== null; }

  /** Create a run of ``config`` (throws the ApiError); ``paused`` stops it after its first epoch. */
  async start(config, { paused = false } = {}) {
    const requested = structuredClone(config);
    if (paused) requested.training.epochs_per_second = STEP_START_PACE;
    const created = await this.api.createRun(requested);
    this.stream?.close();
    this.run = { id: created.id, config };
    this.stream = this.followRun(created.events_url, {
      onEvent: (name, data) => this.deliver(name, data),
      onLost: (message) => {
        this.stream = null;
        this.onLost(message);
      },
      parseLater: PARSED_WHEN_DRAWN,
    });
    return created;
  }

  /** After a step-started run's pause is in, its pace goes back to the config's. */
  async restorePace() {
    const pace = this.run?.config.training.epochs_per_second ?? this.maxPace;
    await this.sendLive({ training: { epochs_per_second: pace } });
  }

  deliver(name, data) {
    if (!this.run) return;
    if (name === "done" || name === "error") this.stream = null;
    this.onEvent(name, data);
  }

  /** Send ``action``; true when the server took it for this same run. */
  async control(action) {
    if (!this.run) return false;
    const runId = this.run.id;
    try {
      await this.api.control(runId, { action });
      return this.run?.id === runId;
    } catch (error) {
      if (!endedMeanwhile(error)) this.onError(error, "");
      return false;
    }
  }

  /** Collect live changes for a moment and send them as one update. */
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
      if (!endedMeanwhile(error)) this.onError(error, "config.");
    }
  }

  /** Stop following; ``stopRun`` also asks the server to stop training it. */
  close({ stopRun = false } = {}) {
    const run = this.run;
    this.stream?.close();
    this.stream = null;
    this.run = null;
    clearTimeout(this.liveTimer);
    this.pendingLive = null;
    if (run && stopRun) this.api.control(run.id, { action: "stop" }).catch(() => {});
  }
}
