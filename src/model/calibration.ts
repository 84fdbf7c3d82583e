import type { Calibration } from './card.js';

const EPS = 1e-7;

export function logit(p: number): number {
  const q = Math.min(1 - EPS, Math.max(EPS, p));
  return Math.log(q / (1 - q));
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** The model's raw sigmoid output -> calibrated probability, as the card's calibration says. */
export function calibrate(rawProbability: number, calibration: Calibration): number {
  switch (calibration.method) {
    case 'none':
      return rawProbability;
    case 'platt':
      return sigmoid(calibration.a * logit(rawProbability) + calibration.b);
    case 'temperature':
      return sigmoid(logit(rawProbability) / calibration.temperature);
  }
}
