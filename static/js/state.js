// The page state: the whole run config plus a few view settings, and ONE table
// of URL-serialisable properties that drives the URL fragment and the form.
// Every value is typed here, so a number field never receives a string.

const finite = (value) => (Number.isFinite(value) ? value : undefined);

const FLOAT = {
  fromUrl: (text) => finite(Number(text === "" ? NaN : text)),
  toUrl: (value) => String(value),
  fromControl: (control) => (control.value.trim() === "" ? NaN : Number(control.value)),
  toControl: (control, value) => { control.value = value === null || value === undefined ? "" : String(value); },
};

const INT = {
  ...FLOAT,
  fromUrl: (text) => {
    const value = FLOAT.fromUrl(text);
    return Number.isInteger(value) ? value : undefined;
  },
};

// A blank field means null ("same as train", "the data set's own Bayes floor").
const NULLABLE_FLOAT = {
  ...FLOAT,
  fromUrl: (text) => (text === "" || text === "null" ? null : FLOAT.fromUrl(text)),
  toUrl: (value) => (value === null ? "" : String(value)),
  fromControl: (control) => (control.value.trim() === "" ? null : Number(control.value)),
};

const BOOL = {
  fromUrl: (text) => (text === "1" || text === "true" ? true : text === "0" || text === "false" ? false : undefined),
  toUrl: (value) => (value ? "1" : "0"),
  fromControl: (control) => control.checked,
  toControl: (control, value) => { control.checked = Boolean(value); },
};

const TEXT = {
  fromUrl: (text) => text,
  toUrl: (value) => String(value),
  fromControl: (control) => control.value,
  toControl: (control, value) => { control.value = String(value); },
};

// Speed: the select's "max" option stands for null (unpaced).
const PACE = {
  ...NULLABLE_FLOAT,
  fromUrl: (text) => (text === "max" ? null : NULLABLE_FLOAT.fromUrl(text)),
  toUrl: (value) => (value === null ? "max" : String(value)),
  fromControl: (control) => (control.value === "max" ? null : Number(control.value)),
  toControl: (control, value) => { control.value = value === null ? "max" : String(value); },
};

// Hidden layers as "8-relu,16-tanh-k0.5-bn": units, activation, keep_prob, batch norm.
const LAYERS = {
  fromUrl: (text) => {
    if (text === "" || text === "none") return [];
    const layers = [];
    for (const part of text.split(",")) {
      const [units, activation, ...flags] = part.split("-");
      const layer = { units: Number(units), activation, keep_prob: 1.0, batch_norm: false };
      if (!Number.isInteger(layer.units) || !activation) return undefined;
      for (const flag of flags) {
        if (flag === "bn") layer.batch_norm = true;
        else if (flag.startsWith("k") && Number.isFinite(Number(flag.slice(1)))) layer.keep_prob = Number(flag.slice(1));
        else return undefined;
      }
      layers.push(layer);
    }
    return layers;
  },
  toUrl: (layers) => (layers.length === 0 ? "none" : layers.map((layer) => [
    layer.units, layer.activation,
    ...(layer.keep_prob !== 1 ? [`k${layer.keep_prob}`] : []),
    ...(layer.batch_norm ? ["bn"] : []),
  ].join("-")).join(",")),
};

// Input features as "x1,x2,x1_squared", in the order the network takes them.
const NAMES = {
  fromUrl: (text) => (text === "" ? undefined : text.split(",")),
  toUrl: (names) => names.join(","),
};

const config = (key, path, type) => ({ key, path, type, scope: "config" });
const view = (key, type, fallback, values) => ({ key, path: key, type, scope: "view", fallback, values });

// Which of these a live run may change is the schema's to say (``x-live``: see schema.js liveFields).
/** Every URL-serialisable property: URL key, place in the config (or a view setting), type. */
export const PROPERTIES = [
  config("seed", "seed", INT),
  { ...config("dataset", "data.dataset", TEXT), pattern: /^upload:[A-Za-z0-9_-]{16,64}$/ },
  config("samples", "data.n_samples", INT),
  config("noise", "data.noise", FLOAT),
  config("labelNoise", "data.label_noise", FLOAT),
  config("train", "data.split.train", FLOAT),
  config("dev", "data.split.dev", FLOAT),
  config("test", "data.split.test", FLOAT),
  config("trainDev", "data.split.train_dev", FLOAT),
  config("devNoise", "data.dev_noise", NULLABLE_FLOAT),
  config("center", "data.normalize.center", BOOL),
  config("scale", "data.normalize.scale", BOOL),
  config("augment", "data.augment.enabled", BOOL),
  config("rotation", "data.augment.rotation_degrees", FLOAT),
  config("jitter", "data.augment.jitter", FLOAT),
  config("shift", "data.augment.shift_pixels", INT),
  config("bayesError", "data.bayes_error", NULLABLE_FLOAT),
  config("features", "data.features", NAMES),
  config("layers", "model.hidden", LAYERS),
  config("init", "model.init", TEXT),
  config("initScale", "model.init_scale", FLOAT),
  config("l2", "regularization.l2", FLOAT),
  config("l1", "regularization.l1", FLOAT),
  config("optimizer", "optimizer.name", TEXT),
  config("learningRate", "optimizer.learning_rate", FLOAT),
  config("beta", "optimizer.beta", FLOAT),
  config("beta1", "optimizer.beta1", FLOAT),
  config("beta2", "optimizer.beta2", FLOAT),
  config("epsilon", "optimizer.epsilon", FLOAT),
  config("schedule", "schedule.name", TEXT),
  config("decayRate", "schedule.decay_rate", FLOAT),
  config("timeInterval", "schedule.time_interval", INT),
  config("base", "schedule.base", FLOAT),
  config("k", "schedule.k", FLOAT),
  config("factor", "schedule.factor", FLOAT),
  config("every", "schedule.every", INT),
  config("epochs", "training.epochs", INT),
  config("batchSize", "training.batch_size", INT),
  config("patience", "training.early_stopping.patience", INT),
  config("restoreBest", "training.early_stopping.restore_best", BOOL),
  config("reportEvery", "training.report_every", INT),
  config("boundaryEvery", "training.boundary_every", INT),
  config("speed", "training.epochs_per_second", PACE),
  view("smoothing", FLOAT, 0.6),
  view("logY", BOOL, false),
  view("chart", TEXT, "epoch", ["epoch", "iteration"]),
  view("weights", BOOL, false),
  view("showTestData", BOOL, false),
  view("discretize", BOOL, false),
];

export const PROPERTY_BY_KEY = new Map(PROPERTIES.map((property) => [property.key, property]));
export const PROPERTY_BY_PATH = new Map(
  PROPERTIES.filter((property) => property.scope === "config").map((property) => [property.path, property]));

export function getPath(object, path) {
  return path.split(".").reduce((node, part) => (node === undefined || node === null ? undefined : node[part]), object);
}

export function setPath(object, path, value) {
  const parts = path.split(".");
  const last = parts.pop();
  let node = object;
  for (const part of parts) {
    if (typeof node[part] !== "object" || node[part] === null) node[part] = {};
    node = node[part];
  }
  node[last] = value;
}

export const clone = (value) => structuredClone(value);

// Fragment values keep , : . - _ readable; everything else is percent-encoded.
const encodeValue = (text) => encodeURIComponent(text).replace(/%2C/gi, ",").replace(/%3A/gi, ":");

/**
 * The page state.  ``config`` is a complete run config; ``view`` holds the
 * chart settings.  Listeners hear ``(keys, source)`` after every change.
 */
export class PlaygroundState {
  constructor({ defaults, pageDefaults = {}, allowed = new Map(), layerDefaults = {} }) {
    this.defaults = clone(defaults);
    this.layerDefaults = clone(layerDefaults);
    for (const [path, value] of Object.entries(pageDefaults)) setPath(this.defaults, path, value);
    this.allowed = allowed;
    this.config = clone(this.defaults);
    this.view = Object.fromEntries(PROPERTIES.filter((p) => p.scope === "view").map((p) => [p.key, p.fallback]));
    this.listeners = [];
  }

  onChange(listener) { this.listeners.push(listener); }

  notify(keys, source) { for (const listener of this.listeners) listener(keys, source); }

  get(key) {
    const property = PROPERTY_BY_KEY.get(key);
    return property.scope === "view" ? this.view[key] : getPath(this.config, property.path);
  }

  set(key, value, source = "form") {
    const property = PROPERTY_BY_KEY.get(key);
    if (property.scope === "view") this.view[key] = value;
    else setPath(this.config, property.path, value);
    this.notify([key], source);
  }

  /** Replace the whole config (a preset) and some view settings; page pacing is kept unless the config sets it. */
  replaceConfig(nextConfig, source = "preset", view = {}) {
    const merged = this.merged(this.defaults, nextConfig);
    if (getPath(nextConfig, "training.epochs_per_second") === undefined) {
      setPath(merged, "training.epochs_per_second", this.get("speed"));
    }
    this.config = merged;
    Object.assign(this.view, view);
    this.notify(PROPERTIES.map((property) => property.key), source);
  }

  /**
   * The current config with ``partial`` merged in as the server merges a
   * preset's counterfactual: section by section, lists replaced, each hidden
   * layer completed with the layer defaults.
   */
  withChanges(partial) { return this.merged(this.config, partial); }

  merged(base, partial) {
    const merged = clone(base);
    deepAssign(merged, partial);
    merged.model.hidden = merged.model.hidden.map((layer) => ({ ...this.layerDefaults, ...layer }));
    return merged;
  }

  toFragment() {
    return PROPERTIES.map((property) => `${property.key}=${encodeValue(property.type.toUrl(this.get(property.key)))}`)
      .join("&");
  }

  /** Apply ``key=value`` pairs from a fragment; returns warnings for values it could not use. */
  applyFragment(fragment, source = "url") {
    const warnings = [];
    const changed = [];
    const text = fragment.replace(/^#/, "");
    if (!text) return warnings;
    for (const pair of text.split("&")) {
      const at = pair.indexOf("=");
      let key;
      let raw;
      try {
        key = decodeURIComponent(at < 0 ? pair : pair.slice(0, at));
        raw = at < 0 ? "" : decodeURIComponent(pair.slice(at + 1).replace(/\+/g, " "));
      } catch {
        warnings.push(`"${pair}" in the link is not valid percent-encoding`);
        continue;
      }
      const property = PROPERTY_BY_KEY.get(key);
      if (!property) {
        warnings.push(`unknown setting "${key}" in the link was ignored`);
        continue;
      }
      const value = property.type.fromUrl(raw);
      if (value === undefined || !this.isAllowed(property, value)) {
        warnings.push(`"${raw}" is not a valid ${key}; kept ${property.type.toUrl(this.get(key))}`);
        continue;
      }
      if (property.scope === "view") this.view[key] = value;
      else setPath(this.config, property.path, value);
      changed.push(key);
    }
    if (changed.length) this.notify(changed, source);
    return warnings;
  }

  isAllowed(property, value) {
    if (property.key === "layers") {
      const activations = this.allowed.get("model.hidden.activation");
      return !activations || value.every((layer) => activations.includes(layer.activation));
    }
    const values = property.values ?? this.allowed.get(property.path);
    if (property.pattern?.test(value)) return true;
    if (property.key === "features") {
      return value.length > 0 && new Set(value).size === value.length && (!values || value.every((name) => values.includes(name)));
    }
    return !values || values.includes(value);
  }
}

function deepAssign(target, source) {
  for (const [key, value] of Object.entries(source ?? {})) {
    if (value && typeof value === "object" && !Array.isArray(value) && typeof target[key] === "object"
        && target[key] !== null && !Array.isArray(target[key])) {
      deepAssign(target[key], value);
    } else {
      target[key] = clone(value);
    }
  }
}
