/** Lung masks and the regions taken from them: pure data, shared by preprocessing and the segmenter. */
import type { RefusalReason } from '../core/result.js';

export interface LungBox {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** A lung mask at the size of the decoded image it was made from. */
export interface LungMask {
  width: number;
  height: number;
  /** Row-major, 255 = lung, 0 = background. */
  data: Uint8Array;
  /** Lung pixels / all pixels. */
  area: number;
  /** Bounding box of the kept components (at most the two largest), or null when none. */
  box: LungBox | null;
  /** 0..1: two lung-sized components side by side, of similar size, at a plausible place. */
  plausibility: number;
  /** Components kept (0, 1 or 2; one when the lungs touch or one is not visible). */
  components: number;
}

/** The answer for the user when no plausible lungs are found (messages: refusal.lungs_not_found). */
export const LUNGS_NOT_FOUND: RefusalReason = 'lungs_not_found';

export function lungsFound(mask: LungMask, minPlausibility: number): boolean {
  return mask.box !== null && mask.plausibility >= minPlausibility;
}

/**
 * The lung box grown by `margin` (a fraction of its width and height on each side) and
 * clipped to the image: the region a lung crop keeps. Null when no lungs were found.
 */
export function lungBox(mask: LungMask, margin: number): LungBox | null {
  return mask.box === null ? null : growBox(mask.box, margin, mask);
}

/** `box` grown by `margin` (a fraction of its width and height) on each side, clipped to the image. */
export function growBox(box: LungBox, margin: number, image: { width: number; height: number }): LungBox {
  const dx = Math.round(box.width * margin);
  const dy = Math.round(box.height * margin);
  const x0 = Math.max(0, box.left - dx);
  const y0 = Math.max(0, box.top - dy);
  const x1 = Math.min(image.width, box.left + box.width + dx);
  const y1 = Math.min(image.height, box.top + box.height + dy);
  return { left: x0, top: y0, width: x1 - x0, height: y1 - y0 };
}
