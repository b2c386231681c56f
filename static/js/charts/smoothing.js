// The exponentially weighted average of the smoothing slider, with bias
// correction: v_t = beta v_{t-1} + (1 - beta) x_t, shown as v_t / (1 - beta^t).

const missing = (value) => value === null || value === undefined || !Number.isFinite(value);

/** The average of a stream, one value at a time; missing values (null, NaN, infinities) come out as NaN. */
export class Smoother {
  constructor(beta) { this.beta = beta; this.average = 0; this.count = 0; }

  push(value) {
    if (missing(value)) return NaN;
    this.count += 1;
    this.average = this.beta * this.average + (1 - this.beta) * value;
    return this.beta === 0 ? value : this.average / (1 - this.beta ** this.count);
  }
}

/** ``Smoother`` over a whole series; beta 0 returns the values unchanged (missing ones as NaN). */
export function smoothSeries(values, beta) {
  const smoother = new Smoother(beta);
  return Array.from(values, (value) => smoother.push(value));
}
