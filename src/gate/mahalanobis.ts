/**
 * Distance of a feature vector from the training X-rays' feature distribution (the input of the
 * classifier's last layer). Images unlike any training X-ray — photos, documents, CT slices — land
 * far away. Covariance is shrunk towards a scaled identity so it inverts even with few images.
 */
export interface FeatureStats {
  mean: number[];
  /** Inverse of the shrunk covariance, row-major d x d. */
  precision: number[];
}

export function fitFeatureStats(features: readonly ArrayLike<number>[], shrinkage = 0.1): FeatureStats {
  const n = features.length;
  const d = features[0]?.length ?? 0;
  if (n < 2 || d === 0) throw new Error('Need at least two feature vectors to fit the gate.');
  const mean = new Array<number>(d).fill(0);
  for (const f of features) for (let j = 0; j < d; j++) mean[j] = (mean[j] ?? 0) + (f[j] ?? 0) / n;
  const cov = new Float64Array(d * d);
  for (const f of features) {
    for (let i = 0; i < d; i++) {
      const di = (f[i] ?? 0) - (mean[i] ?? 0);
      for (let j = i; j < d; j++)
        cov[i * d + j] = (cov[i * d + j] ?? 0) + (di * ((f[j] ?? 0) - (mean[j] ?? 0))) / (n - 1);
    }
  }
  let trace = 0;
  for (let i = 0; i < d; i++) trace += cov[i * d + i] ?? 0;
  const target = Math.max(trace / d, 1e-8);
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) {
      const v = (1 - shrinkage) * (cov[i * d + j] ?? 0) + (i === j ? shrinkage * target : 0);
      cov[i * d + j] = v;
      cov[j * d + i] = v;
    }
  }
  return { mean, precision: Array.from(invert(cov, d)) };
}

export function mahalanobis(stats: FeatureStats, f: ArrayLike<number>): number {
  const d = stats.mean.length;
  const diff = new Float64Array(d);
  for (let i = 0; i < d; i++) diff[i] = (f[i] ?? 0) - (stats.mean[i] ?? 0);
  let sum = 0;
  for (let i = 0; i < d; i++) {
    let row = 0;
    for (let j = 0; j < d; j++) row += (stats.precision[i * d + j] ?? 0) * (diff[j] ?? 0);
    sum += (diff[i] ?? 0) * row;
  }
  return Math.sqrt(Math.max(0, sum));
}

/** Gauss-Jordan inverse with partial pivoting (d is ~100: plain loops are fine). */
export function invert(matrix: Float64Array, d: number): Float64Array {
  const a = Float64Array.from(matrix);
  const inv = new Float64Array(d * d);
  for (let i = 0; i < d; i++) inv[i * d + i] = 1;
  for (let col = 0; col < d; col++) {
    let pivot = col;
    for (let r = col + 1; r < d; r++)
      if (Math.abs(a[r * d + col] ?? 0) > Math.abs(a[pivot * d + col] ?? 0)) pivot = r;
    const p = a[pivot * d + col] ?? 0;
    if (Math.abs(p) < 1e-12) throw new Error('Singular covariance matrix.');
    if (pivot !== col) {
      for (let j = 0; j < d; j++) {
        [a[col * d + j], a[pivot * d + j]] = [a[pivot * d + j] ?? 0, a[col * d + j] ?? 0];
        [inv[col * d + j], inv[pivot * d + j]] = [inv[pivot * d + j] ?? 0, inv[col * d + j] ?? 0];
      }
    }
    for (let j = 0; j < d; j++) {
      a[col * d + j] = (a[col * d + j] ?? 0) / p;
      inv[col * d + j] = (inv[col * d + j] ?? 0) / p;
    }
    for (let r = 0; r < d; r++) {
      if (r === col) continue;
      const factor = a[r * d + col] ?? 0;
      if (factor === 0) continue;
      for (let j = 0; j < d; j++) {
        a[r * d + j] = (a[r * d + j] ?? 0) - factor * (a[col * d + j] ?? 0);
        inv[r * d + j] = (inv[r * d + j] ?? 0) - factor * (inv[col * d + j] ?? 0);
      }
    }
  }
  return inv;
}
