// Shared helpers of the lab pages: fetching JSON, reporting errors, chart styling.
import { t } from "../js/i18n.js";
import { detailMessage } from "../js/validation_messages.js";
import { NUMBER_TEMPLATE } from "./plotting.js";

export const OPTIMIZER_STYLE = {
  gd: { label: "Gradient descent", color: "#d62728" },
  momentum: { label: "Momentum", color: "#1f77b4" },
  rmsprop: { label: "RMSprop", color: "#2ca02c" },
  adam: { label: "Adam", color: "#9467bd" },
};

export { PLOT_CONFIG, drawChart } from "./plotting.js";

export const BASE_LAYOUT = {
  template: NUMBER_TEMPLATE,
  margin: { l: 56, r: 16, t: 12, b: 48 },
  paper_bgcolor: "rgba(0,0,0,0)",
  plot_bgcolor: "rgba(0,0,0,0)",
  font: { family: "system-ui, sans-serif", size: 12 },
  legend: { orientation: "h", y: -0.28 },
};

/** GET `url` and decode its JSON body: `{ ok, status, body }` (body is null when not JSON). */
export async function getJson(url, options = {}) {
  const response = await fetch(url, { headers: { Accept: "application/json" }, ...options });
  let body = null;
  if ((response.headers.get("Content-Type") || "").includes("application/json")) {
    body = await response.json();
  }
  return { ok: response.ok, status: response.status, body };
}

/** One sentence from an API error body: `"learning_rate: Input should be greater than 0"`. */
export function describeError(body, status) {
  if (!body) return t("The server answered {status}.", { status });
  const details = (body.details || []).map((detail) => (detail.loc ? `${detail.loc}: ${detailMessage(detail)}`
    : detailMessage(detail)));
  return details.length ? `${body.error}: ${details.join("; ")}` : body.error;
}

export function showMessage(element, text) {
  element.textContent = text || "";
  element.hidden = !text;
}

/** The non-empty named fields of `form`, as URL search parameters. */
export function formParameters(form) {
  const parameters = new URLSearchParams();
  for (const [name, value] of new FormData(form)) {
    if (String(value).trim() !== "") parameters.set(name, String(value).trim());
  }
  return parameters;
}

/** Fill the fields of `form` named in `values` (unknown names are ignored). */
export function fillForm(form, values) {
  for (const [name, value] of Object.entries(values)) {
    const field = form.elements.namedItem(name);
    if (field && value !== null && value !== undefined) field.value = String(value);
  }
}

export function formatNumber(value, digits = 3) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e4)) return value.toExponential(2);
  return value.toFixed(digits);
}

export function setStatus(label, status) {
  label.textContent = status;
  label.dataset.status = status;
}

/**
 * GET `url` with the form's `parameters` (also put in the page URL, so a link reproduces the view).
 * Returns the JSON body, or null after showing the server's error in `message`.
 */
export async function fetchLabData(url, parameters, statusLabel, message) {
  showMessage(message, "");
  setStatus(statusLabel, "running");
  history.replaceState(null, "", `?${parameters}`);
  const answer = await getJson(`${url}?${parameters}`);
  if (!answer.ok) {
    setStatus(statusLabel, "error");
    showMessage(message, describeError(answer.body, answer.status));
    return null;
  }
  return answer.body;
}
