// The trials table: one row per trial, sortable by any column (click a
// header; click again to reverse), the best trial highlighted.

import { formatValue } from "./params.js";
import { playgroundHref } from "./playground-link.js";

const METRIC_COLUMNS = [
  { key: "dev_accuracy", label: "dev acc" },
  { key: "dev_loss", label: "dev loss" },
  { key: "train_accuracy", label: "train acc" },
  { key: "epochs_run", label: "epochs" },
  { key: "elapsed_s", label: "time (s)" },
];

/** Compare two cell values: numbers numerically, missing values last whatever the direction. */
export function compareCells(a, b, direction) {
  const missingA = a === null || a === undefined;
  const missingB = b === null || b === undefined;
  if (missingA || missingB) return missingA === missingB ? 0 : missingA ? 1 : -1;
  if (typeof a === "number" && typeof b === "number") return (a - b) * direction;
  return String(a).localeCompare(String(b)) * direction;
}

export class TrialsTable {
  constructor(table) {
    this.table = table;
    this.sort = { key: "index", direction: 1 };
    this.results = null;
    table.tHead.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-sort]");
      if (!button) return;
      const key = button.dataset.sort;
      this.sort = { key, direction: this.sort.key === key ? -this.sort.direction : defaultDirection(key) };
      this.draw(this.results);
    });
  }

  columns(results) {
    return [
      { key: "index", label: "#" },
      ...results.paths.map((path) => ({ key: `config.${path}`, label: path, path })),
      { key: "status", label: "status" },
      ...METRIC_COLUMNS,
    ];
  }

  value(trial, column) {
    return column.path ? trial.config[column.path] : trial[column.key];
  }

  draw(results) {
    this.results = results;
    if (!results?.definition) {
      this.table.tHead.replaceChildren();
      this.table.tBodies[0].replaceChildren();
      return;
    }
    const columns = this.columns(results);
    const headRow = document.createElement("tr");
    for (const column of columns) {
      const th = document.createElement("th");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.sort = column.key;
      button.textContent = column.label;
      if (this.sort.key === column.key) {
        th.setAttribute("aria-sort", this.sort.direction > 0 ? "ascending" : "descending");
      }
      th.append(button);
      headRow.append(th);
    }
    headRow.append(document.createElement("th"));
    this.table.tHead.replaceChildren(headRow);

    const sortColumn = columns.find((column) => column.key === this.sort.key) ?? columns[0];
    const trials = [...results.trials.values()].sort((a, b) => compareCells(
      this.value(a, sortColumn), this.value(b, sortColumn), this.sort.direction) || a.index - b.index);
    const bestIndex = results.bestIndex;
    const rows = trials.map((trial) => {
      const row = document.createElement("tr");
      row.setAttribute("data-testid", "search-row");
      row.dataset.index = String(trial.index);
      row.dataset.status = trial.status;
      if (trial.index === bestIndex) {
        row.classList.add("best");
        row.dataset.best = "true";
      }
      for (const column of columns) {
        const cell = document.createElement("td");
        const value = this.value(trial, column);
        const kind = column.path ? results.kindOf(column.path) : "float";
        cell.textContent = value === null || value === undefined ? "–" : formatValue(value, kind);
        if (column.key === "status" && trial.message) cell.title = trial.message;
        row.append(cell);
      }
      const open = document.createElement("td");
      if (trial.status !== "running") {
        const link = document.createElement("a");
        link.href = playgroundHref(results.runConfig(trial));
        link.target = "_blank";
        link.rel = "noopener";
        link.textContent = "open";
        link.setAttribute("data-testid", "open-trial");
        open.append(link);
      }
      row.append(open);
      return row;
    });
    this.table.tBodies[0].replaceChildren(...rows);
  }
}

// A fresh sort by a metric starts with the best first.
function defaultDirection(key) {
  return key === "dev_accuracy" || key === "train_accuracy" ? -1 : 1;
}
