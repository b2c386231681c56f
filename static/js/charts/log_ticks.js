// Tick labels for a log axis that read at any span: Plotly labels the minor
// ticks of a span under a decade with bare digits ("4 5 6 7 8 9 1 2 3") that
// pile up and say nothing of their decade.  Here every label is a whole value
// (0.4, 2, 1e-5), as few as read well: powers of ten over many decades, 1-2-5
// over a few, every digit under one, and plain evenly spaced values in a
// sliver of a decade.

const MIN_TICKS = 3;
const MAX_TICKS = 7;

/** A tick's text: plain between 0.001 and 10,000, else "1e-5" (``exponent``: always so). */
export function logTickText(value, exponent = false) {
  if (!exponent && value >= 1e-3 && value < 1e4) return String(Number(value.toPrecision(2)));
  const [mantissa, power] = value.toExponential(0).split("e");
  return `${mantissa}e${Number(power)}`;
}

function multiplesIn(low, high, digits) {
  const values = [];
  for (let power = Math.floor(low) - 1; power <= Math.ceil(high); power += 1) {
    for (const digit of digits) {
      const value = digit * 10 ** power;
      const at = Math.log10(value);
      if (at >= low - 1e-9 && at <= high + 1e-9) values.push(Number(value.toPrecision(3)));
    }
  }
  return values;
}

/**
 * ``{tickvals, ticktext}`` for a log axis showing ``[low, high]`` (log10 units,
 * as Plotly's log axes keep their range).
 */
export function logTicks([low, high], { exponent = false } = {}) {
  let values = [];
  const decades = high - low;
  if (decades > MAX_TICKS) {
    const step = Math.ceil(decades / MAX_TICKS);
    for (let power = Math.ceil(low); power <= high; power += step) values.push(10 ** power);
  } else {
    for (const digits of [[1], [1, 2, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]]) {
      values = multiplesIn(low, high, digits);
      if (values.length >= MIN_TICKS) break;
    }
    if (values.length > MAX_TICKS) values = values.filter((_, index) => index % 2 === 0);
    if (values.length < 2) {
      const count = 4;
      values = Array.from({ length: count }, (_, index) => Number((10 ** (low + ((index + 0.5) * decades) / count))
        .toPrecision(2)));
    }
  }
  values = [...new Set(values)];
  return { tickvals: values, ticktext: values.map((value) => logTickText(value, exponent)) };
}

const DECADES_SPANNED = 30;

/**
 * ``logTicks`` over a range that may grow: when the ticks are powers of ten
 * (every decade, or every step-th), the same run of them from 1e-30 to 1e30.
 * Plotly labels only the ticks inside the range, so the labels are those of
 * ``logTicks``, and a range that grows keeps its ticks: a relayout that sends
 * new ticks redraws every axis of the plot, one with a range alone only the
 * axis that moved.
 */
export function lastingLogTicks(range, options) {
  const ticks = logTicks(range, options);
  const powers = ticks.tickvals.map((value) => Math.round(Math.log10(value)));
  if (!powers.every((power, index) => Math.abs(10 ** power - ticks.tickvals[index]) < 1e-9 * ticks.tickvals[index])) {
    return ticks;
  }
  const step = powers.length > 1 ? powers[1] - powers[0] : 1;
  const values = [];
  const first = powers[0] - step * Math.floor((powers[0] + DECADES_SPANNED) / step);
  for (let power = first; power <= DECADES_SPANNED; power += step) values.push(Number(`1e${power}`));
  return { tickvals: values, ticktext: values.map((value) => logTickText(value, options?.exponent)) };
}
