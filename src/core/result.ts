/** What the classifier answers. `accepted` tells a probability from a refusal. */
export type CovidLabel = 'covid' | 'not_covid';

/** Why an input got no probability: it is an answer for the user, not a failure. */
export const REFUSAL_REASONS = ['not_chest_xray', 'colour_image', 'lungs_not_found'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export interface Timings {
  /** Decode and preprocessing, ms. */
  preprocessMs: number;
  /** Model forward pass, ms. */
  inferenceMs: number;
  /** Heatmap computation and rendering, ms (0 when off). */
  explainMs: number;
  /** Wall time inside the worker, ms. */
  totalMs: number;
}

export interface Heatmap {
  /** PNG of the user's image with the heatmap overlay and a legend. */
  png: Uint8Array;
  width: number;
  height: number;
}

export interface Prediction {
  accepted: true;
  /** Calibrated probability of COVID-19, 0..1. */
  probability: number;
  label: CovidLabel;
  /** Decision threshold from the model card (probability scale). */
  threshold: number;
  modelVersion: string;
  /**
   * The image looked like a phone photo of a film or screen (the X-ray was cut out of it).
   * Answers on such photos are less certain; replies say so.
   */
  photo: boolean;
  /**
   * For photos: the mean change in probability the model card measured between test X-rays and
   * simulated phone photos of them (those the gate accepts), when it was measured.
   */
  photoChange?: number;
  heatmap?: Heatmap;
  timings: Timings;
}

export interface Refusal {
  accepted: false;
  reason: RefusalReason;
  modelVersion: string;
  timings: Timings;
}

export type ClassifyResult = Prediction | Refusal;
