/**
 * Post-hoc calibration of the model's logit (fitted on the validation split):
 * - Platt scaling: p = sigmoid(a * logit + b);
 * - temperature scaling: p = sigmoid(logit / temperature) (keeps the ranking and the 0.5 point).
 */

export interface PlattParams {
  a: number;
  b: number;
}

export interface TemperatureParams {
  temperature: number;
}

export type CalibrationParams = PlattParams | TemperatureParams;

export interface PlattOptions {
  /**
   * Platt's target smoothing: positives aim at (N+ + 1)/(N+ + 2), negatives at 1/(N- + 2), which
   * keeps a and b finite on separable data. Default true.
   */
  targetSmoothing?: boolean;
  maxIterations?: number;
}

export interface TemperatureOptions {
  /** Search range for the temperature; on separable data the optimum is at the lower end. */
  minTemperature?: number;
  maxTemperature?: number;
}

/** Logistic function, without overflow for large |x|. */
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** Inverse of sigmoid; p is clamped to [eps, 1 - eps] so that 0 and 1 stay finite. */
export function logit(p: number, eps = 1e-7): number {
  const q = Math.min(Math.max(p, eps), 1 - eps);
  return Math.log(q / (1 - q));
}

/** log(1 + e^z), stable for large |z|. */
function softplus(z: number): number {
  return Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
}

/** Cross-entropy of sigmoid(z) against a (possibly soft) target t: softplus(z) - t z. */
function logLoss(z: number, target: number): number {
  return softplus(z) - target * z;
}

function checkCalibrationInput(logits: ArrayLike<number>, labels: ArrayLike<number>, what: string): void {
  if (logits.length !== labels.length) {
    throw new RangeError(`${what}: ${logits.length} logits but ${labels.length} labels.`);
  }
  let positives = 0;
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    if (label !== 0 && label !== 1) throw new RangeError(`${what}: label ${i} is ${label}, expected 0 or 1.`);
    if (!Number.isFinite(logits[i])) throw new RangeError(`${what}: logit ${i} is ${logits[i]}.`);
    positives += label;
  }
  if (positives === 0 || positives === labels.length) {
    throw new RangeError(`${what}: needs both classes (got ${positives} positives of ${labels.length}).`);
  }
}

/**
 * Platt scaling by Newton's method with backtracking (Lin, Lin & Weng 2007): the loss is convex in
 * (a, b), so this converges in a handful of iterations.
 */
export function fitPlatt(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  options: PlattOptions = {},
): PlattParams {
  checkCalibrationInput(logits, labels, 'fitPlatt');
  const n = labels.length;
  let positives = 0;
  for (let i = 0; i < n; i++) positives += labels[i] as number;
  const negatives = n - positives;
  const smoothing = options.targetSmoothing ?? true;
  const highTarget = smoothing ? (positives + 1) / (positives + 2) : 1;
  const lowTarget = smoothing ? 1 / (negatives + 2) : 0;
  const targets = Float64Array.from({ length: n }, (_, i) => (labels[i] === 1 ? highTarget : lowTarget));

  const loss = (a: number, b: number): number => {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += logLoss(a * (logits[i] as number) + b, targets[i] as number);
    return sum;
  };

  // Start from the prior log-odds with a flat slope, as Platt does.
  let a = 0;
  let b = Math.log((positives + 1) / (negatives + 1));
  let current = loss(a, b);
  const maxIterations = options.maxIterations ?? 100;
  for (let iteration = 0; iteration < maxIterations; iteration++) {
    // Gradient and Hessian of the summed loss in (a, b); a tiny ridge keeps H invertible.
    let ga = 0;
    let gb = 0;
    let haa = 1e-12;
    let hab = 0;
    let hbb = 1e-12;
    for (let i = 0; i < n; i++) {
      const x = logits[i] as number;
      const p = sigmoid(a * x + b);
      const residual = p - (targets[i] as number);
      const curvature = p * (1 - p);
      ga += residual * x;
      gb += residual;
      haa += curvature * x * x;
      hab += curvature * x;
      hbb += curvature;
    }
    if (Math.abs(ga) < 1e-9 * n && Math.abs(gb) < 1e-9 * n) break;
    const det = haa * hbb - hab * hab;
    const da = -(hbb * ga - hab * gb) / det;
    const db = -(haa * gb - hab * ga) / det;
    const slope = ga * da + gb * db;
    let step = 1;
    while (step > 1e-10) {
      const next = loss(a + step * da, b + step * db);
      if (next <= current + 1e-4 * step * slope) {
        a += step * da;
        b += step * db;
        current = next;
        break;
      }
      step /= 2;
    }
    if (step <= 1e-10) break; // no progress possible: at the optimum up to rounding
  }
  return { a, b };
}

/**
 * Temperature scaling: the T minimising the cross-entropy of sigmoid(logit / T) with the hard
 * labels. The loss is convex in 1/T, hence unimodal in log T: a golden-section search on log T
 * over [minTemperature, maxTemperature] finds it without derivatives.
 */
export function fitTemperature(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  options: TemperatureOptions = {},
): TemperatureParams {
  checkCalibrationInput(logits, labels, 'fitTemperature');
  const loss = (logTemperature: number): number => {
    const inverse = Math.exp(-logTemperature);
    let sum = 0;
    for (let i = 0; i < labels.length; i++)
      sum += logLoss((logits[i] as number) * inverse, labels[i] as number);
    return sum;
  };
  const low = Math.log(options.minTemperature ?? 0.01);
  const high = Math.log(options.maxTemperature ?? 100);
  return { temperature: Math.exp(goldenSectionMinimum(loss, low, high, 1e-10)) };
}

function goldenSectionMinimum(
  f: (x: number) => number,
  low: number,
  high: number,
  tolerance: number,
): number {
  const ratio = (Math.sqrt(5) - 1) / 2;
  let a = low;
  let b = high;
  let c = b - ratio * (b - a);
  let d = a + ratio * (b - a);
  let fc = f(c);
  let fd = f(d);
  while (b - a > tolerance) {
    if (fc <= fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - ratio * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + ratio * (b - a);
      fd = f(d);
    }
  }
  return (a + b) / 2;
}

export function isTemperatureParams(params: CalibrationParams): params is TemperatureParams {
  return 'temperature' in params;
}

/** The calibrated probability for one logit. */
export function applyCalibration(logitValue: number, params: CalibrationParams): number {
  if (isTemperatureParams(params)) return sigmoid(logitValue / params.temperature);
  return sigmoid(params.a * logitValue + params.b);
}
