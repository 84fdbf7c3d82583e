import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { makeChestTestSplit } from './images.js';

const run = promisify(execFile);
const TSX = path.resolve('node_modules/.bin/tsx');

/** A temporary folder for a measure script's end-to-end test, with a small generated test split. */
export interface MeasureWorkspace {
  work: string;
  /** Two chest-like X-rays per label in test/covid and test/normal. */
  data: string;
  /**
   * Runs `scripts/<script>` with tsx, as an operator would, on this split (`--data`, `--out`,
   * `--quiet` added): its standard output and the JSON it wrote (--out).
   */
  measure(script: string, args: readonly string[]): Promise<{ stdout: string; json: unknown }>;
  remove(): Promise<void>;
}

export async function measureWorkspace(prefix: string): Promise<MeasureWorkspace> {
  const work = await mkdtemp(path.join(os.tmpdir(), prefix));
  const data = path.join(work, 'data');
  await makeChestTestSplit(data, 2, { width: 260, height: 300 });
  const out = path.join(work, 'rows.json');
  return {
    work,
    data,
    measure: async (script, args) => {
      const { stdout } = await run(
        TSX,
        [path.resolve('scripts', script), ...args, '--data', data, '--out', out, '--quiet'],
        { timeout: 120_000 },
      );
      return { stdout, json: JSON.parse(await readFile(out, 'utf8')) as unknown };
    },
    remove: () => rm(work, { recursive: true, force: true }),
  };
}
