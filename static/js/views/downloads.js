// Files out: the run's metrics as CSV and, once it has ended, its trained
// network as JSON or PyTorch code (links to the API), and each chart as a PNG.
//
// A chart is a Plotly plot (axes) with canvases laid over or under its plot
// area (curves, the probability map, the points), so its PNG is composed here:
// the caption, Plotly's image of the axes and every canvas of the card, in page
// order (the order they stack in), at their places on the card, then the HTML
// legends beside the plots: each entry's swatch and name drawn where it sits.

import { t } from "../i18n.js";

const EXPORTABLE = new Set(["done", "stopped"]);

function setLink(link, href) {
  if (href) {
    link.href = href;
    link.removeAttribute("aria-disabled");
  } else {
    link.removeAttribute("href");
    link.setAttribute("aria-disabled", "true");
  }
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error("the chart image could not be made"));
    image.src = url;
  });
}

/** A PNG blob of the visible layers of ``card`` (one chart). */
export async function chartPng(card) {
  const box = card.getBoundingClientRect();
  const ratio = window.devicePixelRatio || 1;
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(box.width * ratio);
  canvas.height = Math.round(box.height * ratio);
  const context = canvas.getContext("2d");
  context.scale(ratio, ratio);
  context.fillStyle = "#ffffff";
  context.fillRect(0, 0, box.width, box.height);
  const caption = card.querySelector("figcaption");
  if (caption) {
    const place = caption.getBoundingClientRect();
    context.fillStyle = "#1f2937";
    context.font = `600 ${getComputedStyle(caption).fontSize} system-ui, sans-serif`;
    context.textBaseline = "top";
    context.fillText(caption.textContent.trim(), place.left - box.left, place.top - box.top);
  }
  const layers = [...card.querySelectorAll(".js-plotly-plot, canvas")]
    .filter((layer) => !layer.closest("[hidden]") && !(layer.tagName === "CANVAS" && layer.closest(".js-plotly-plot")));
  for (const layer of layers) {
    const place = layer.getBoundingClientRect();
    if (!place.width || !place.height) continue;
    const x = place.left - box.left;
    const y = place.top - box.top;
    if (layer.tagName === "CANVAS") {
      context.drawImage(layer, x, y, place.width, place.height);
    } else {
      const url = await window.Plotly.toImage(layer, { format: "png", width: place.width, height: place.height });
      context.drawImage(await loadImage(url), x, y, place.width, place.height);
    }
  }
  for (const legend of card.querySelectorAll(".chart-legend")) {
    if (!legend.closest("[hidden]")) drawLegend(context, legend, box);
  }
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}

/** A legend's entries at their places in ``box``: line swatches (solid, dashed, dotted), dot swatches, names. */
function drawLegend(context, legend, box) {
  for (const item of legend.querySelectorAll("li")) {
    for (const swatch of item.querySelectorAll(".swatch")) drawSwatch(context, swatch, box);
    const style = getComputedStyle(item);
    context.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    context.fillStyle = style.color;
    context.textBaseline = "middle";
    for (const node of item.childNodes) {
      const text = node.nodeType === Node.TEXT_NODE ? node.textContent.trim() : "";
      if (!text) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      const place = range.getBoundingClientRect();
      context.fillText(text, place.left - box.left, place.top - box.top + place.height / 2);
    }
  }
}

const LINE_DASHES = { dashed: [4, 2], dotted: [1, 2] };

function drawSwatch(context, swatch, box) {
  const place = swatch.getBoundingClientRect();
  const style = getComputedStyle(swatch);
  const x = place.left - box.left;
  const y = place.top - box.top;
  const lineWidth = parseFloat(style.borderTopWidth) || 0;
  if (style.borderTopStyle !== "none" && lineWidth > 0) {
    context.strokeStyle = style.borderTopColor;
    context.lineWidth = lineWidth;
    context.setLineDash(LINE_DASHES[style.borderTopStyle] ?? []);
    context.beginPath();
    context.moveTo(x, y + lineWidth / 2);
    context.lineTo(x + place.width, y + lineWidth / 2);
    context.stroke();
    context.setLineDash([]);
  } else {
    context.fillStyle = style.backgroundColor;
    context.beginPath();
    if (parseFloat(style.borderTopLeftRadius) > 0) {
      context.arc(x + place.width / 2, y + place.height / 2, Math.min(place.width, place.height) / 2, 0, 2 * Math.PI);
    } else {
      context.rect(x, y, place.width, place.height);
    }
    context.fill();
  }
}

function save(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export class DownloadsView {
  /** ``links``: the metrics, JSON and PyTorch anchors; ``cards``: the chart figures that get a PNG button. */
  constructor({ metrics, json, pytorch, cards }) {
    Object.assign(this, { metrics, json, pytorch });
    for (const card of cards) this.addPngButton(card);
    this.render(null, "idle");
  }

  addPngButton(card) {
    const chart = card.querySelector(".chart[data-testid]");
    if (!chart) return;
    const name = chart.dataset.testid;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "png-button";
    button.textContent = "PNG";
    button.title = t("Download this chart as a PNG image");
    button.dataset.testid = `png-${name}`;
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const visible = card.querySelector(".chart:not([hidden])")?.dataset.testid ?? name;
        save(await chartPng(card), `${visible}.png`);
      } finally {
        button.disabled = false;
      }
    });
    card.prepend(button);  // not inside the caption: some captions are rewritten as runs change
  }

  /** The run the page shows (its id, or null) and its status. */
  render(runId, status) {
    const base = runId ? `/api/runs/${encodeURIComponent(runId)}` : null;
    setLink(this.metrics, base && `${base}/metrics.csv`);
    const exportable = base && EXPORTABLE.has(status);
    setLink(this.json, exportable && `${base}/export?format=json`);
    setLink(this.pytorch, exportable && `${base}/export?format=pytorch`);
  }
}
