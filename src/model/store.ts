import { promises as fs, type Dirent } from 'node:fs';
import path from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs';
import { saveModel } from './io.js';
import { writeCard, type ModelCard, type PreprocessingSpec } from './card.js';
import { BASE_LIMITATIONS, DISCLAIMER, INTENDED_USE } from './card-text.js';
import { EXPLAIN_LAYER } from './architectures.js';

/** Writes model.json, weights and card.json into `dir` (created if needed). */
export async function writeModelDir(dir: string, model: tfTypes.LayersModel, card: ModelCard): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await saveModel(model, dir);
  await writeCard(dir, card);
}

/** A complete card with the fixed texts; training and evaluation fill in data and metrics. */
export function draftCard(fields: {
  version: string;
  architecture: string;
  preprocessing: PreprocessingSpec;
  threshold?: number;
  thresholdRule?: string;
  calibration?: ModelCard['calibration'];
}): ModelCard {
  const { size } = fields.preprocessing;
  return {
    schemaVersion: 1,
    name: 'xray-covid-cnn',
    version: fields.version,
    createdAt: new Date().toISOString(),
    architecture: fields.architecture,
    labels: ['not_covid', 'covid'],
    input: { height: size, width: size, channels: 1 },
    preprocessing: fields.preprocessing,
    calibration: fields.calibration ?? { method: 'none' },
    threshold: fields.threshold ?? 0.5,
    thresholdRule: fields.thresholdRule ?? 'fixed at 0.5 (not tuned)',
    explainLayer: EXPLAIN_LAYER,
    intendedUse: INTENDED_USE,
    limitations: [...BASE_LIMITATIONS],
    disclaimer: DISCLAIMER,
  };
}

/**
 * A new, empty folder beside `target` for a model being made: `<target>.staging-<version>`, or
 * with `-2`, `-3`... when that exists. A refused model is kept in its staging folder for the
 * operator, so a later run must never reuse (and wipe) one, even with the same version.
 */
export async function newStagingDir(target: string, version: string): Promise<string> {
  const base = `${target.replace(/\/+$/, '')}.staging-${version}`;
  await fs.mkdir(path.dirname(base), { recursive: true });
  for (let n = 1; ; n++) {
    const dir = n === 1 ? base : `${base}-${n}`;
    try {
      await fs.mkdir(dir);
      return dir;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

/**
 * Atomic switch: the new model is complete in `staged` before `target` changes. The old model is
 * kept beside it as `<target>.previous-<version>` for rollback. A running bot loads its model
 * once at start, so it sees either the old or the new directory, never a half-written one.
 */
export async function switchModelDir(staged: string, target: string, previousVersion: string | undefined): Promise<string | undefined> {
  await carryOverNestedModels(target, staged);
  let backup: string | undefined;
  try {
    await fs.access(target);
    backup = `${target.replace(/\/+$/, '')}.previous-${(previousVersion ?? 'unknown').replace(/[^A-Za-z0-9._-]/g, '_')}`;
    await fs.rm(backup, { recursive: true, force: true });
    await fs.rename(target, backup);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await fs.rename(staged, target);
  return backup === undefined ? undefined : path.resolve(backup);
}

/**
 * Models that live inside the classifier's folder (the lung segmenter in `model/lungs/`) are not
 * part of a classifier update: copy them into the staged folder so the switch keeps them.
 */
async function carryOverNestedModels(target: string, staged: string): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await fs.readdir(target, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const destination = path.join(staged, entry.name);
    try {
      await fs.access(destination);
    } catch {
      await fs.cp(path.join(target, entry.name), destination, { recursive: true });
    }
  }
}
