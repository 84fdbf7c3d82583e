/**
 * Image/mask pairs for the lung segmenter: a folder with `manifest.csv`
 * (`image,mask,source,patient_id,split`, paths relative to the folder), as in
 * `../shared/data/lungmasks`. Images go through the one preprocessing path (`toModelInput`);
 * masks are read as one grey channel, 255 (or any value >= 128) = lung.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import sharp from 'sharp';
import { decodeImage, type DecodedImage } from '../image/decode.js';
import { toModelInput } from '../image/preprocess.js';
import type { PreprocessingSpec } from '../model/card.js';
import { isSplit, mapWithConcurrency, type Split } from '../training/datasets.js';
import { DATASET_LIMITS } from '../training/inputs.js';

export interface LungSample {
  /** Absolute paths. */
  image: string;
  mask: string;
  source: string;
  patientId: string;
  split: Split;
}

export const LUNG_MANIFEST = 'manifest.csv';

export const OVERLAP_FILE = 'classifier_overlap.csv';

/**
 * Hand-drawn lung masks for images of the classification set: classifier image (absolute, under
 * `dataRoot`) -> mask file. From `classifier_overlap.csv`, rows framed the same way only.
 */
export async function readHandMaskIndex(dir: string, dataRoot: string): Promise<Map<string, string>> {
  const masks = new Map((await loadLungManifest(dir)).map((s) => [s.image, s.mask]));
  const text = await readFile(path.join(dir, OVERLAP_FILE), 'utf8');
  const rows = parse(text, { columns: true, skip_empty_lines: true, trim: true }) as Record<string, string>[];
  const index = new Map<string, string>();
  for (const row of rows) {
    if (row['same_aspect_ratio'] !== 'yes' || !row['image'] || !row['classifier_file']) continue;
    const mask = masks.get(path.resolve(dir, row['image']));
    if (mask !== undefined) index.set(path.resolve(dataRoot, row['classifier_file']), mask);
  }
  return index;
}

export async function loadLungManifest(dir: string): Promise<LungSample[]> {
  const root = path.resolve(dir);
  const file = path.join(root, LUNG_MANIFEST);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new Error(`No ${LUNG_MANIFEST} in ${root} (expected image,mask,source,patient_id,split).`, {
      cause,
    });
  }
  const rows = parse(text, { columns: true, skip_empty_lines: true, trim: true }) as Record<string, string>[];
  return rows.map((row, i) => {
    const { image, mask, source, patient_id: patientId, split } = row;
    if (!image || !mask || !source || !split || !isSplit(split)) {
      throw new Error(`${file}, row ${i + 2}: needs image, mask, source and a split of train/val/test.`);
    }
    return {
      image: path.resolve(root, image),
      mask: path.resolve(root, mask),
      source,
      patientId: patientId || `${source}_${i}`,
      split,
    };
  });
}

export interface PreparedPairs {
  samples: LungSample[];
  /** Model inputs (size * size, the card's preprocessing). */
  inputs: Float32Array[];
  /** Masks at the model's size, 0/1, laid out like the inputs. */
  targets: Float32Array[];
}

/** Every pair through the one preprocessing path once; epochs reuse the result. */
export async function preparePairs(
  samples: readonly LungSample[],
  spec: PreprocessingSpec,
  options: { concurrency?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<PreparedPairs> {
  let done = 0;
  const pairs = await mapWithConcurrency(samples, options.concurrency ?? 4, async (sample) => {
    const decoded = await decodeImage(await readFile(sample.image), DATASET_LIMITS);
    const input = await toModelInput(decoded, spec);
    const truth = await readTruthMask(sample, decoded);
    const target = await maskToModelSize(truth, decoded.width, decoded.height, input.region, spec.size);
    options.onProgress?.(++done, samples.length);
    return { input: input.data, target };
  });
  return { samples: [...samples], inputs: pairs.map((p) => p.input), targets: pairs.map((p) => p.target) };
}

/** The hand-drawn mask, 0/255, at the size of the decoded working copy of its image. */
export async function readTruthMask(sample: LungSample, decoded: DecodedImage): Promise<Uint8Array> {
  // extractChannel last: sharp may hand back 3 channels otherwise.
  const { data, info } = await sharp(await readFile(sample.mask))
    .resize({ width: decoded.width, height: decoded.height, fit: 'fill' })
    .extractChannel(0)
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.width !== decoded.width || info.height !== decoded.height || info.channels !== 1) {
    throw new Error(`Mask ${sample.mask} could not be brought to ${decoded.width}x${decoded.height}.`);
  }
  return binarise(data);
}

/** The mask region the model input was made from, resized as the image was, as 0/1 floats. */
async function maskToModelSize(
  mask: Uint8Array,
  width: number,
  height: number,
  region: { left: number; top: number; width: number; height: number },
  size: number,
): Promise<Float32Array> {
  const resized = await sharp(mask, { raw: { width, height, channels: 1 } })
    .extract(region)
    .resize({ width: size, height: size, fit: 'fill' })
    .extractChannel(0)
    .raw()
    .toBuffer();
  return Float32Array.from(resized, (v) => (v >= 128 ? 1 : 0));
}

function binarise(grey: Uint8Array): Uint8Array {
  return Uint8Array.from(grey, (v) => (v >= 128 ? 255 : 0));
}
