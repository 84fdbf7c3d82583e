import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { newStagingDir } from '../../src/model/store.js';

let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'xray-store-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('newStagingDir', () => {
  it('never reuses the folder of a model made with the same version, which it would wipe', async () => {
    const target = path.join(work, 'models', 'model');
    const first = await newStagingDir(`${target}/`, 'v1');
    expect(first).toBe(`${target}.staging-v1`);
    // A refused model stays in its staging folder for the operator.
    await writeFile(path.join(first, 'card.json'), '{}');
    const second = await newStagingDir(target, 'v1');
    const third = await newStagingDir(target, 'v1');
    expect([second, third]).toEqual([`${target}.staging-v1-2`, `${target}.staging-v1-3`]);
    expect(existsSync(path.join(first, 'card.json'))).toBe(true);
    expect(await readdir(second)).toEqual([]);
  });
});
