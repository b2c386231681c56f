// The series each line chart draws: keys the dashboard pushes, names the legend shows.

import { COLORS, LAYER_COLORS } from "./colors.js";

const TRAIN = { key: "train", name: "train", color: COLORS.train };
const DEV = { key: "dev", name: "dev", color: COLORS.dev };
const TRAIN_DEV = { key: "trainDev", name: "train-dev", color: COLORS.trainDev, dash: "dash" };

/** Loss: train, dev, the training cost (with its penalty), and train-dev when the run has that set. */
export function lossSeries(trainDev = false) {
  return [TRAIN, DEV, { key: "cost", name: "train cost", color: COLORS.cost, dash: "dot" },
    ...(trainDev ? [TRAIN_DEV] : [])];
}

export function accuracySeries(trainDev = false) {
  return [TRAIN, DEV, ...(trainDev ? [TRAIN_DEV] : [])];
}

export const ITERATION_SERIES = [{ key: "cost", name: "mini-batch cost", color: COLORS.cost }];

export const LEARNING_RATE_SERIES = [{ key: "lr", name: "learning rate", color: COLORS.lr }];

/** One series per weight layer, the output layer named as such. */
export function layerSeries(count) {
  return Array.from({ length: count }, (_, index) => ({
    key: `layer${index + 1}`, name: index === count - 1 ? `W[${index + 1}] (output)` : `W[${index + 1}]`,
    color: LAYER_COLORS[index % LAYER_COLORS.length],
  }));
}
