// Your own data: a CSV file chosen or dropped is sent to POST /api/datasets;
// the answer is previewed (first rows, class counts) and becomes an option of
// the data-set list, ``upload:<id>``, which the URL state keeps like a built-in
// name.  A link naming an upload asks the server what it is (or that it expired).

import { t, translateMessage } from "../i18n.js";
import { CLIENT_HEADER, clientToken } from "../client_token.js";

const UPLOAD = /^upload:([A-Za-z0-9_-]{16,64})$/;

export const isUpload = (dataset) => UPLOAD.test(String(dataset));

/** An error body's sentence in the page's language: a file's problem comes as a message id and its parameters. */
function problemText(body) {
  const message = body?.details?.[0]?.message;
  return message ? translateMessage(message) : body?.error;
}

async function answer(response) {
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = { error: text.slice(0, 200) }; }
  if (!response.ok) throw new Error(problemText(body) ?? t("The server answered {status}.", { status: response.status }));
  return body;
}

/** POST the file's bytes; the server's description of the data set, or an Error naming the problem. */
export async function uploadCsv(file) {
  const response = await fetch("/api/datasets", {
    method: "POST", headers: { "Content-Type": "text/csv", [CLIENT_HEADER]: clientToken() }, body: file,
  });
  return answer(response);
}

function cell(tag, text) {
  const element = document.createElement(tag);
  element.textContent = String(text);
  return element;
}

export class UploadView {
  /** ``select``: the data-set list, which gains an option per upload. */
  constructor({ input, drop, status, preview, select }) {
    Object.assign(this, { input, drop, status, preview, select });
    this.known = new Map();
    this.names = new Map();
    this.onUploaded = () => {};
    this.onKnown = () => {};
    input.addEventListener("change", () => { if (input.files?.length) this.send(input.files[0]); });
    drop.addEventListener("dragover", (event) => {
      event.preventDefault();
      drop.classList.add("dragging");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("dragging"));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("dragging");
      const file = event.dataTransfer?.files?.[0];
      if (file) this.send(file);
    });
  }

  /** ``handler(info)`` once an upload is accepted: ``info`` is the server's answer. */
  bindUploaded(handler) { this.onUploaded = handler; }

  /** ``handler(info)`` whenever the page learns what an upload is (uploaded, linked, grown). */
  bindKnown(handler) { this.onKnown = handler; }

  nameOf(dataset) { return this.names.get(dataset) ?? "uploaded data"; }

  async send(file) {
    this.say(t("Reading {name}…", { name: file.name }), "busy");
    try {
      const info = await uploadCsv(file);
      this.remember(info, file.name);
      this.say(t("{name}: {rows} rows, {features} features, {classes} classes.", {
        name: file.name, rows: info.n_samples, features: info.n_features, classes: info.n_classes }), "ok");
      this.onUploaded(info);
    } catch (error) {
      this.say(`${file.name}: ${error.message}`, "error");
    } finally {
      this.input.value = "";
    }
  }

  /** A data set the state now names: an upload this page has not seen is looked up. */
  async follow(dataset) {
    const match = UPLOAD.exec(String(dataset));
    if (!match || this.known.has(dataset)) return;
    this.known.set(dataset, null);
    try {
      const info = await answer(await fetch(`/api/datasets/${match[1]}`));
      this.remember(info, "uploaded data");
    } catch (error) {
      this.known.delete(dataset);
      this.say(t("The uploaded data set of this link is no longer kept ({error}); upload it again.", { error: error.message }),
        "error");
    }
  }

  /** Keep ``info`` as an option of the list, in place of the option of ``replaces`` when given. */
  remember(info, name, replaces = null) {
    const label = `${name} (${info.n_samples} rows)`;
    this.known.set(info.dataset, info);
    this.names.set(info.dataset, name);
    const options = [...this.select.options];
    const existing = options.find((option) => option.value === info.dataset)
      ?? options.find((option) => replaces && option.value === replaces);
    if (existing) {
      existing.value = info.dataset;
      existing.textContent = label;
    } else {
      this.select.add(new Option(label, info.dataset));
    }
    this.showPreview(info);
    this.onKnown(info);
  }

  showPreview(info) {
    const table = document.createElement("table");
    table.className = "upload-table";
    const head = document.createElement("tr");
    head.append(...[...info.features, "label"].map((name) => cell("th", name)));
    const rows = info.preview.X.map((values, index) => {
      const row = document.createElement("tr");
      row.append(...values.map((value) => cell("td", Number(value.toPrecision(4)))), cell("td", info.preview.label[index]));
      return row;
    });
    table.append(head, ...rows);
    const counts = cell("p", t("Classes: {counts}", { counts: info.classes
      .map((label, index) => `${label} × ${info.class_counts[index]}`).join(", ") }));
    counts.dataset.testid = "upload-classes";
    this.preview.replaceChildren(table, counts);
    this.preview.hidden = false;
  }

  say(text, kind) {
    this.status.textContent = text;
    this.status.dataset.kind = kind;
    this.status.hidden = false;
  }
}
