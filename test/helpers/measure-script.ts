import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
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
  remove(): Promise<void>;
}

export async function measureWorkspace(prefix: string): Promise<MeasureWorkspace> {
  const work = await mkdtemp(path.join(os.tmpdir(), prefix));
  const data = path.join(work, 'data');
  await makeChestTestSplit(data, 2, { width: 260, height: 300 });
  return { work, data, remove: () => rm(work, { recursive: true, force: true }) };
}

/** Runs `scripts/<script>` with tsx, as an operator would, and gives its standard output. */
export async function runScript(script: string, args: readonly string[]): Promise<string> {
  const { stdout } = await run(TSX, [path.resolve('scripts', script), ...args], { timeout: 120_000 });
  return stdout;
}
