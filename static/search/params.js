// The hyperparameters the page offers, and how each maps to a distribution.
// A row's scale decides how values are sampled: "log" spreads trials evenly
// over decades (for a beta, over decades of 1 - beta), "lin" evenly over the
// range.  The slider reach [min, max] comes from the config schema
// (GET /api/schema) wherever the schema has a bound the row's scale can use;
// the page's own `floor` and `ceiling` stand in for an open bound (a learning
// rate above 0, a beta below 1) or a 0 that a log scale cannot reach.  The
// server checks every value against the same schema.

import { N_ } from "../js/i18n.js";
import { allowedValues, fieldSchema } from "../js/schema.js";

/** kind: float | beta | int | choice; scale: the default scale; low, high: the default range. */
const OFFERED = [
  { path: "optimizer.learning_rate", label: N_("Learning rate α"), kind: "float", scale: "log",
    low: 1e-4, high: 1, floor: 1e-6, enabled: true },
  { path: "optimizer.beta1", label: N_("Adam β1"), kind: "beta", scale: "log",
    low: 0.8, high: 0.99, ceiling: 0.9999, enabled: false },
  { path: "optimizer.beta2", label: N_("Adam β2"), kind: "beta", scale: "log",
    low: 0.99, high: 0.9999, ceiling: 0.99999, enabled: false },
  { path: "optimizer.beta", label: N_("Momentum / RMSprop β"), kind: "beta", scale: "log",
    low: 0.8, high: 0.999, ceiling: 0.9999, enabled: false },
  { path: "optimizer.epsilon", label: N_("Adam / RMSprop ε"), kind: "float", scale: "log",
    low: 1e-8, high: 1e-4, floor: 1e-10, enabled: false },
  { path: "regularization.l2", label: N_("L2 λ"), kind: "float", scale: "log",
    low: 1e-4, high: 1, floor: 1e-6, enabled: false },
  { path: "model.hidden.0.units", label: N_("Units in layer 1"), kind: "int", scale: "log",
    low: 2, high: 64, enabled: false },
  { path: "model.hidden.0.keep_prob", label: N_("Keep prob, layer 1"), kind: "float", scale: "lin",
    low: 0.5, high: 1, floor: 0.05, enabled: false },
  { path: "training.batch_size", label: N_("Mini-batch size"), kind: "int", scale: "log",
    low: 8, high: 256, enabled: false },
  { path: "optimizer.name", label: N_("Optimizer"), kind: "choice", chosen: ["momentum", "adam"], enabled: false },
];

/** The schema's path of a search path: list positions dropped ("model.hidden.0.units" -> "model.hidden.units"). */
export function schemaPath(path) {
  return path.split(".").filter((part) => !/^\d+$/.test(part)).join(".");
}

/** An inclusive bound of the schema that the scale can reach, else null. */
function usableBound(field, side, kind) {
  const bound = side === "min" ? field.minimum : field.maximum;
  if (typeof bound !== "number") return null;
  if (kind === "float" && side === "min" && bound <= 0) return null; // log10(0)
  if (kind === "beta" && side === "max" && bound >= 1) return null; // log10(1 - 1)
  return bound;
}

/**
 * The rows of the form, read against the config's JSON Schema: each numeric
 * row gets its slider reach {min, max}, the choice row its values.
 */
export function offeredParameters(schema) {
  return OFFERED.map((parameter) => {
    const path = schemaPath(parameter.path);
    if (parameter.kind === "choice") return { ...parameter, values: allowedValues(schema, path) ?? parameter.chosen };
    const { floor, ceiling, ...rest } = parameter;
    const field = fieldSchema(schema, path) ?? {};
    return { ...rest, min: usableBound(field, "min", parameter.kind) ?? floor,
      max: usableBound(field, "max", parameter.kind) ?? ceiling };
  });
}

const DISTRIBUTION = {
  float: { log: "log_uniform", lin: "uniform" },
  beta: { log: "one_minus_log_uniform", lin: "uniform" },
  int: { log: "int_log_uniform", lin: "int_uniform" },
};

/** The distribution name for a numeric parameter on a scale. */
export function distributionName(kind, scale) {
  return DISTRIBUTION[kind][scale];
}

/** [kind-compatible scale, ...] of a distribution name, e.g. "one_minus_log_uniform" -> "log". */
export function scaleOf(distribution) {
  return distribution === "uniform" || distribution === "int_uniform" ? "lin" : "log";
}

/** Position on the scale: log10 for log, log10(1 - v) for a beta on log, v itself on lin. */
export function toScale(kind, scale, value) {
  if (scale === "lin") return value;
  return kind === "beta" ? Math.log10(1 - value) : Math.log10(value);
}

export function fromScale(kind, scale, position) {
  if (scale === "lin") return position;
  return kind === "beta" ? 1 - 10 ** position : 10 ** position;
}

/**
 * The page's one number format: integers as is, others to 3 significant
 * digits, in scientific notation below 0.001 and from 10,000 ("1e-5", not
 * Plotly's SI "10µ"; the charts' axes use the same rule), and a beta to 3
 * significant digits of 1 - beta (0.99937).
 */
export function formatValue(value, kind = "float") {
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return String(value);
  if (kind === "beta" && value > 0.9) return String(Number((1 - Number((1 - value).toPrecision(3))).toFixed(12)));
  const rounded = Number(value.toPrecision(3));
  const magnitude = Math.abs(rounded);
  return magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e4) ? rounded.toExponential() : String(rounded);
}

export const keyOf = (path) => path.replaceAll(".", "-");
