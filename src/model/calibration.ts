import type { Calibration } from './card.js';
import { applyCalibration, logit } from '../evaluation/calibration.js';

/** The model's raw sigmoid output -> calibrated probability, as the card's calibration says. */
export function calibrate(rawProbability: number, calibration: Calibration): number {
  return calibration.method === 'none' ? rawProbability : applyCalibration(logit(rawProbability), calibration);
}
