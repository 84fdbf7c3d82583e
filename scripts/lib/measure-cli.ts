/**
 * What the phone-photo measure scripts share: the split options, the split's images, a loop over
 * them with a progress bar, and how they print figures.
 */
import path from 'node:path';
import { Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { loadDataset, type Sample, type Split } from '../../src/training/datasets.js';
import { positiveInt } from './training-options.js';

export interface SplitOptions {
  data: string;
  split: Split;
  limit?: number;
  out?: string;
  quiet: boolean;
}

/** Adds --data, --split, --limit, --out and --quiet (parsed into SplitOptions). */
export function withSplitOptions(command: Command): Command {
  return command
    .option('--data <dir>', 'dataset with splits', path.resolve('../shared/data'))
    .addOption(
      new Option('--split <name>', 'split to measure').choices(['train', 'val', 'test']).default('test'),
    )
    .option('--limit <n>', 'only the first n images of the split', positiveInt)
    .option('--out <file>', 'also write every row as JSON')
    .option('--quiet', 'no progress bar', false);
}

/** The split's images in file order (a photo's seed is its index here, as in `evaluate`). */
export async function splitSamples(o: SplitOptions): Promise<Sample[]> {
  return (await loadDataset(o.data)).samples.filter((s) => s.split === o.split).slice(0, o.limit);
}

/** `measure(sample, index)` for every sample in turn, behind a progress bar unless quiet. */
export async function measureEach<T>(
  samples: readonly Sample[],
  quiet: boolean,
  measure: (sample: Sample, index: number) => Promise<T>,
): Promise<T[]> {
  const bar = quiet
    ? undefined
    : new cliProgress.SingleBar({ format: 'measuring |{bar}| {value}/{total} ETA {eta_formatted}' });
  bar?.start(samples.length, 0);
  const rows: T[] = [];
  try {
    for (const [index, sample] of samples.entries()) {
      rows.push(await measure(sample, index));
      bar?.update(index + 1);
    }
  } finally {
    bar?.stop();
  }
  return rows;
}

export const mean = (values: readonly number[]): number =>
  values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length;

/** A figure as the reports print it: three decimals, or a dash when there is none. */
export const figure = (v: number | null): string => (v !== null && Number.isFinite(v) ? v.toFixed(3) : '–');
