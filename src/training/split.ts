/**
 * Patient-level train/val/test splits, cross-split duplicate removal, and split statistics.
 *
 * Leakage rules enforced here:
 * - a patient's images all land in one split (`splitByPatient`);
 * - an image (same bytes, or same look by perceptual hash) never sits in two splits
 *   (`removeCrossSplitDuplicates`): see that function for which copy is kept.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { CLASS_LABELS, DatasetError, SPLITS, mapWithConcurrency } from './datasets.js';
import type { ClassLabel, Sample, Split } from './datasets.js';
import { mulberry32, shuffle } from './random.js';

// ---------------------------------------------------------------------------------------------
// Patient split
// ---------------------------------------------------------------------------------------------

export interface SplitRatios {
  train: number;
  val: number;
  test: number;
}

export interface SplitOptions {
  seed: number;
  ratios: SplitRatios;
  /**
   * Strata in which the ratios are kept: by the patient's label (default), or by source and label
   * (useful for multi-source data, where label and source are linked).
   */
  stratify?: 'label' | 'source_label';
}

interface PatientGroup {
  patientId: string;
  /** Indices into the input array. */
  indices: number[];
  stratum: string;
}

/**
 * Returns copies of `samples` where every sample has a split. Samples that already have one keep
 * it; unassigned images of a patient who already has assigned images join that patient's split.
 * The remaining patients are assigned whole: within each stratum they are shuffled with the seed,
 * then (largest first) each goes to the split furthest below its image target.
 */
export function splitByPatient(samples: readonly Sample[], options: SplitOptions): Sample[] {
  const ratios = normalizeRatios(options.ratios);
  const result = samples.map((sample) => ({ ...sample }));
  const existing = existingPatientSplits(result);

  const groups = new Map<string, PatientGroup>();
  result.forEach((sample, index) => {
    if (sample.split !== undefined) return;
    const inherited = existing.get(sample.patientId);
    if (inherited !== undefined) {
      sample.split = inherited;
      return;
    }
    let group = groups.get(sample.patientId);
    if (group === undefined) {
      group = { patientId: sample.patientId, indices: [], stratum: '' };
      groups.set(sample.patientId, group);
    }
    group.indices.push(index);
  });

  const strata = new Map<string, PatientGroup[]>();
  for (const group of groups.values()) {
    group.stratum = stratumOf(group, result, options.stratify ?? 'label');
    const list = strata.get(group.stratum);
    if (list === undefined) strata.set(group.stratum, [group]);
    else list.push(group);
  }

  const random = mulberry32(options.seed);
  for (const stratum of [...strata.keys()].sort()) {
    const members = strata.get(stratum) ?? [];
    for (const [group, split] of assignStratum(members, ratios, random)) {
      for (const index of group.indices) (result[index] as Sample).split = split;
    }
  }
  return result;
}

function normalizeRatios(ratios: SplitRatios): SplitRatios {
  const values = SPLITS.map((split) => ratios[split]);
  if (values.some((value) => !Number.isFinite(value) || value < 0)) {
    throw new RangeError(`Split ratios must be finite and >= 0, got ${JSON.stringify(ratios)}.`);
  }
  const total = values.reduce((a, b) => a + b, 0);
  if (total <= 0) throw new RangeError('At least one split ratio must be > 0.');
  return { train: ratios.train / total, val: ratios.val / total, test: ratios.test / total };
}

/** For patients with pre-assigned images: their split (the earliest if they already span several). */
function existingPatientSplits(samples: readonly Sample[]): Map<string, Split> {
  const byPatient = new Map<string, Split>();
  for (const sample of samples) {
    if (sample.split === undefined) continue;
    const current = byPatient.get(sample.patientId);
    if (current === undefined || SPLITS.indexOf(sample.split) < SPLITS.indexOf(current)) {
      byPatient.set(sample.patientId, sample.split);
    }
  }
  return byPatient;
}

/** A patient's stratum uses their most frequent label (ties: CLASS_LABELS order). */
function stratumOf(group: PatientGroup, samples: readonly Sample[], mode: 'label' | 'source_label'): string {
  const counts = new Map<ClassLabel, number>();
  for (const index of group.indices) {
    const label = (samples[index] as Sample).label;
    counts.set(label, (counts.get(label) ?? 0) + 1);
  }
  let best: ClassLabel = 'covid';
  let bestCount = -1;
  for (const label of CLASS_LABELS) {
    const count = counts.get(label) ?? 0;
    if (count > bestCount) {
      best = label;
      bestCount = count;
    }
  }
  const first = samples[group.indices[0] ?? 0] as Sample;
  return mode === 'label' ? best : `${first.source}\u0000${best}`;
}

function assignStratum(
  members: PatientGroup[],
  ratios: SplitRatios,
  random: () => number,
): [PatientGroup, Split][] {
  // Sorting by id first makes the result independent of input order; the shuffle then randomises.
  const ordered = shuffle(
    [...members].sort((a, b) => (a.patientId < b.patientId ? -1 : a.patientId > b.patientId ? 1 : 0)),
    random,
  );
  // Largest patients first (stable, so equal sizes stay shuffled): they are hardest to place.
  ordered.sort((a, b) => b.indices.length - a.indices.length);

  const totalImages = ordered.reduce((sum, group) => sum + group.indices.length, 0);
  const usable = SPLITS.filter((split) => ratios[split] > 0);
  const assigned: Record<Split, number> = { train: 0, val: 0, test: 0 };
  return ordered.map((group) => {
    let best = usable[0] as Split;
    let bestDeficit = -Infinity;
    for (const split of usable) {
      const deficit = ratios[split] * totalImages - assigned[split];
      if (deficit > bestDeficit) {
        best = split;
        bestDeficit = deficit;
      }
    }
    assigned[best] += group.indices.length;
    return [group, best];
  });
}

// ---------------------------------------------------------------------------------------------
// Duplicate detection
// ---------------------------------------------------------------------------------------------

export interface ImageHash {
  /** SHA-256 of the file bytes, hex. */
  sha256: string;
  /** 64-bit pHash as 16 hex digits; undefined if sharp cannot decode the file (e.g. DICOM). */
  phash: string | undefined;
}

export interface HashOptions {
  /** Files hashed at once. Default 4. */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface DuplicateOptions extends HashOptions {
  /** Maximum pHash Hamming distance for a near duplicate. Default 4 (as used to build shared/data). */
  threshold?: number;
  /** Precomputed hashes, one per sample (same order), to skip reading the images again. */
  hashes?: readonly ImageHash[];
}

export interface DuplicateGroup {
  /** Indices into the samples array, ascending; at least two. */
  indices: number[];
  /** True when all members are byte-identical. */
  exact: boolean;
}

export const DEFAULT_DUPLICATE_THRESHOLD = 4;

/** SHA-256 and pHash of each file, `concurrency` files at a time. */
export async function computeImageHashes(
  files: readonly string[],
  options: HashOptions = {},
): Promise<ImageHash[]> {
  let done = 0;
  return mapWithConcurrency(files, options.concurrency ?? 4, async (file) => {
    const bytes = await readFile(file);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const phash = await perceptualHash(bytes).catch(() => undefined);
    options.onProgress?.(++done, files.length);
    return { sha256, phash };
  });
}

const HASH_SIZE = 32;
const LOW_FREQUENCIES = 8;
/** cos((2x+1) u pi / 2N) for u < 8, x < 32: the DCT-II basis restricted to the low frequencies. */
const DCT_BASIS: Float64Array[] = Array.from({ length: LOW_FREQUENCIES }, (_, u) =>
  Float64Array.from({ length: HASH_SIZE }, (_, x) => Math.cos(((2 * x + 1) * u * Math.PI) / (2 * HASH_SIZE))),
);

/**
 * pHash: greyscale, 32x32 resize, 2-D DCT, the 8x8 lowest frequencies thresholded at their
 * median -> 64 bits (16 hex digits, row-major from the DC coefficient).
 */
export async function perceptualHash(input: Buffer | string): Promise<string> {
  const { data, info } = await sharp(input)
    .autoOrient()
    .greyscale()
    .resize(HASH_SIZE, HASH_SIZE, { fit: 'fill', kernel: 'lanczos3', fastShrinkOnLoad: false })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const pixels = new Float64Array(HASH_SIZE * HASH_SIZE);
  for (let i = 0; i < pixels.length; i++) pixels[i] = data[i * info.channels] ?? 0;
  const coefficients = lowFrequencyDct(pixels);
  const median = medianOf(coefficients);
  let hex = '';
  for (let nibble = 0; nibble < 16; nibble++) {
    let value = 0;
    for (let bit = 0; bit < 4; bit++) {
      value = (value << 1) | ((coefficients[nibble * 4 + bit] ?? 0) > median ? 1 : 0);
    }
    hex += value.toString(16);
  }
  return hex;
}

/** The 8x8 low-frequency block of the 2-D DCT-II of a 32x32 image (separable: rows, then columns). */
function lowFrequencyDct(pixels: Float64Array): Float64Array {
  const rowPass = new Float64Array(HASH_SIZE * LOW_FREQUENCIES);
  for (let y = 0; y < HASH_SIZE; y++) {
    for (let u = 0; u < LOW_FREQUENCIES; u++) {
      const basis = DCT_BASIS[u] as Float64Array;
      let sum = 0;
      for (let x = 0; x < HASH_SIZE; x++) sum += (pixels[y * HASH_SIZE + x] as number) * (basis[x] as number);
      rowPass[y * LOW_FREQUENCIES + u] = sum;
    }
  }
  const block = new Float64Array(LOW_FREQUENCIES * LOW_FREQUENCIES);
  for (let v = 0; v < LOW_FREQUENCIES; v++) {
    const basis = DCT_BASIS[v] as Float64Array;
    for (let u = 0; u < LOW_FREQUENCIES; u++) {
      let sum = 0;
      for (let y = 0; y < HASH_SIZE; y++)
        sum += (rowPass[y * LOW_FREQUENCIES + u] as number) * (basis[y] as number);
      block[v * LOW_FREQUENCIES + u] = sum;
    }
  }
  return block;
}

function medianOf(values: Float64Array): number {
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length / 2;
  return ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Hamming distance between two 16-hex-digit hashes. */
export function hammingDistance(a: string, b: string): number {
  const [aHigh, aLow] = splitHash(a);
  const [bHigh, bLow] = splitHash(b);
  return popcount32(aHigh ^ bHigh) + popcount32(aLow ^ bLow);
}

function splitHash(hex: string): [number, number] {
  return [Number.parseInt(hex.slice(0, 8), 16), Number.parseInt(hex.slice(8, 16), 16)];
}

function popcount32(value: number): number {
  let v = value >>> 0;
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}

/**
 * Groups of images that are byte-identical (SHA-256) or look the same (pHash Hamming distance
 * <= threshold). Groups are connected components, so a chain of near copies forms one group.
 * Comparison is all-pairs on 32-bit halves: ~8 M pairs for 4,000 images, well under a second.
 */
export async function findDuplicates(
  samples: readonly Sample[],
  options: DuplicateOptions = {},
): Promise<DuplicateGroup[]> {
  const hashes =
    options.hashes ??
    (await computeImageHashes(
      samples.map((s) => s.file),
      options,
    ));
  if (hashes.length !== samples.length) {
    throw new RangeError(`findDuplicates: ${hashes.length} hashes for ${samples.length} samples.`);
  }
  const threshold = options.threshold ?? DEFAULT_DUPLICATE_THRESHOLD;
  const parent = Int32Array.from(hashes, (_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) {
      const up = parent[i] as number;
      parent[i] = parent[up] as number;
      i = up;
    }
    return i;
  };
  const union = (a: number, b: number): void => {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
  };

  const firstWithSha = new Map<string, number>();
  hashes.forEach((hash, i) => {
    const first = firstWithSha.get(hash.sha256);
    if (first === undefined) firstWithSha.set(hash.sha256, i);
    else union(first, i);
  });

  const decodable = hashes.flatMap((hash, i) => (hash.phash === undefined ? [] : [i]));
  const high = Uint32Array.from(decodable, (i) => splitHash(hashes[i]?.phash ?? '')[0]);
  const low = Uint32Array.from(decodable, (i) => splitHash(hashes[i]?.phash ?? '')[1]);
  for (let a = 0; a < decodable.length; a++) {
    const aHigh = high[a] as number;
    const aLow = low[a] as number;
    for (let b = a + 1; b < decodable.length; b++) {
      if (popcount32(aHigh ^ (high[b] as number)) + popcount32(aLow ^ (low[b] as number)) <= threshold) {
        union(decodable[a] as number, decodable[b] as number);
      }
    }
  }

  const members = new Map<number, number[]>();
  for (let i = 0; i < hashes.length; i++) {
    const root = find(i);
    const list = members.get(root);
    if (list === undefined) members.set(root, [i]);
    else list.push(i);
  }
  return [...members.values()]
    .filter((indices) => indices.length > 1)
    .map((indices) => ({
      indices,
      exact: indices.every((i) => hashes[i]?.sha256 === hashes[indices[0] as number]?.sha256),
    }));
}

export interface RemovedDuplicate {
  sample: Sample;
  /** A member of the same duplicate group that was kept (in an earlier split). */
  keptTwin: Sample;
}

export interface CrossSplitDeduplication {
  samples: Sample[];
  removed: RemovedDuplicate[];
  /** All duplicate groups found, including those within one split (left alone). */
  groups: DuplicateGroup[];
}

/**
 * Removes duplicates that straddle splits. Rule: within a duplicate group, the members in the
 * earliest split (train < val < test) are kept and the members in later splits are dropped, so
 * that no val/test image was seen in training and no test image was used for tuning on val.
 * Duplicates within one split are kept (harmless for leakage). Every sample must have a split.
 */
export async function removeCrossSplitDuplicates(
  samples: readonly Sample[],
  options: DuplicateOptions = {},
): Promise<CrossSplitDeduplication> {
  const unassigned = samples.filter((s) => s.split === undefined).length;
  if (unassigned > 0) {
    throw new DatasetError(`${unassigned} sample(s) have no split; call splitByPatient first.`);
  }
  const groups = await findDuplicates(samples, options);
  const dropped = new Set<number>();
  const removed: RemovedDuplicate[] = [];
  for (const group of groups) {
    const rank = (i: number): number => SPLITS.indexOf((samples[i] as Sample).split as Split);
    const earliest = Math.min(...group.indices.map(rank));
    const keptTwin = samples[group.indices.find((i) => rank(i) === earliest) as number] as Sample;
    for (const index of group.indices) {
      if (rank(index) === earliest) continue;
      dropped.add(index);
      removed.push({ sample: samples[index] as Sample, keptTwin });
    }
  }
  return { samples: samples.filter((_, i) => !dropped.has(i)), removed, groups };
}

// ---------------------------------------------------------------------------------------------
// Counts
// ---------------------------------------------------------------------------------------------

export type SplitOrUnassigned = Split | 'unassigned';
export type LabelCounts = Record<ClassLabel, number> & { total: number };
export type SplitLabelCounts = Record<SplitOrUnassigned, LabelCounts>;

export interface SplitCounts {
  total: number;
  patients: number;
  /** split x label. */
  bySplit: SplitLabelCounts;
  /** source x split x label. */
  bySource: Record<string, SplitLabelCounts>;
}

const SPLIT_ROWS: readonly SplitOrUnassigned[] = [...SPLITS, 'unassigned'];

function emptyLabelCounts(): LabelCounts {
  return { covid: 0, normal: 0, pneumonia_other: 0, total: 0 };
}

function emptySplitLabelCounts(): SplitLabelCounts {
  return {
    train: emptyLabelCounts(),
    val: emptyLabelCounts(),
    test: emptyLabelCounts(),
    unassigned: emptyLabelCounts(),
  };
}

export function splitCounts(samples: readonly Sample[]): SplitCounts {
  const counts: SplitCounts = {
    total: samples.length,
    patients: new Set(samples.map((s) => s.patientId)).size,
    bySplit: emptySplitLabelCounts(),
    bySource: {},
  };
  for (const sample of samples) {
    const split = sample.split ?? 'unassigned';
    const perSource = (counts.bySource[sample.source] ??= emptySplitLabelCounts());
    for (const cell of [counts.bySplit[split], perSource[split]]) {
      cell[sample.label]++;
      cell.total++;
    }
  }
  return counts;
}

/** A plain-text table (source / split x label) for console reports. */
export function formatSplitCounts(counts: SplitCounts): string {
  const rows: string[][] = [['source', 'split', ...CLASS_LABELS, 'total']];
  const addRows = (source: string, table: SplitLabelCounts): void => {
    for (const split of SPLIT_ROWS) {
      const cell = table[split];
      if (cell.total === 0) continue;
      rows.push([source, split, ...CLASS_LABELS.map((label) => String(cell[label])), String(cell.total)]);
    }
  };
  for (const source of Object.keys(counts.bySource).sort())
    addRows(source, counts.bySource[source] as SplitLabelCounts);
  addRows('all', counts.bySplit);
  const widths = (rows[0] as string[]).map((_, col) =>
    Math.max(...rows.map((row) => (row[col] ?? '').length)),
  );
  return rows
    .map((row) =>
      row
        .map((value, col) => (col < 2 ? value.padEnd(widths[col] ?? 0) : value.padStart(widths[col] ?? 0)))
        .join('  '),
    )
    .join('\n');
}
