import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { initBackend } from '../../src/tf/backend.js';
import { saveModel } from '../../src/model/io.js';
import { lungPreprocessing, writeLungCard } from '../../src/lungs/card.js';
import { buildUNet } from '../../src/lungs/unet.js';
import { makeTempDir, removeDir } from '../training/fixtures.js';
import { chestPixels, lungMask, pngOf } from './fixtures.js';

const run = promisify(execFile);
const TSX = path.resolve('node_modules/.bin/tsx');
const CLI = path.resolve('scripts/segment.ts');

let dir: string;
let modelDir: string;

async function segment(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(TSX, [CLI, '--model', modelDir, ...args], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

beforeAll(async () => {
  await initBackend();
  dir = await makeTempDir('lung-cli');
  modelDir = path.join(dir, 'lungs');
  const model = buildUNet({ size: 32, filters: [4, 8] });
  await saveModel(model, modelDir);
  model.dispose();
  // An untrained model: its masks are arbitrary, so a plausibility bar of 1 makes every image
  // a refusal, which the CLI must say in the user's words.
  await writeLungCard(modelDir, {
    schemaVersion: 1,
    name: 'lung-unet',
    version: 'cli-test',
    createdAt: new Date().toISOString(),
    architecture: { name: 'unet', filters: [4, 8], parameters: 1 },
    input: { height: 32, width: 32, channels: 1 },
    preprocessing: lungPreprocessing(32),
    threshold: 0.5,
    minPlausibility: 1,
    postprocessing: 'test',
    intendedUse: 'test',
    limitations: [],
  });
  // Larger than the 1024 px working copy: the mask must still come out at this size.
  const [w, h] = [1300, 1000];
  await fs.writeFile(path.join(dir, 'big.png'), await pngOf(chestPixels(w, h, lungMask(w, h), 2), w, h));
  await fs.writeFile(
    path.join(dir, 'small.jpg'),
    await sharp(await pngOf(chestPixels(200, 150, lungMask(200, 150), 3), 200, 150))
      .jpeg()
      .toBuffer(),
  );
  await fs.writeFile(path.join(dir, 'notes.txt'), 'not an image');
});

afterAll(async () => {
  await removeDir(dir);
});

describe('npm run segment', () => {
  // One run of the CLI (starting tsx and TensorFlow.js is the slow part) covers it all.
  it('writes masks of the input size and overlays, prints figures and refusals, fails on unreadable files', async () => {
    const out = path.join(dir, 'out');
    const files = ['big.png', 'small.jpg', 'notes.txt'].map((f) => path.join(dir, f));
    const r = await segment([...files, '--out', out, '--overlay', '--json', '--lang', 'es']);
    expect(r.code, r.stderr).toBe(1); // notes.txt is not an image
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({
      width: 1300,
      height: 1000,
      lungsFound: false,
      reason: 'lungs_not_found',
    });
    expect(lines[0]?.['message']).toMatch(/No encontré los pulmones/);
    expect(typeof lines[1]?.['area']).toBe('number');
    expect(typeof lines[1]?.['plausibility']).toBe('number');
    expect(lines[2]).toMatchObject({ error: 'unsupported_format' });
    for (const [name, w, h] of [
      ['big', 1300, 1000],
      ['small', 200, 150],
    ] as const) {
      const mask = await sharp(path.join(out, `${name}.mask.png`)).metadata();
      expect([mask.width, mask.height, mask.channels]).toEqual([w, h, 1]);
      const values = new Set(
        await sharp(path.join(out, `${name}.mask.png`))
          .raw()
          .toBuffer(),
      );
      expect([...values].every((v) => v === 0 || v === 255)).toBe(true);
      const overlay = await sharp(path.join(out, `${name}.overlay.png`)).metadata();
      expect([overlay.width, overlay.channels]).toEqual([name === 'big' ? 1024 : 200, 3]);
    }
  });
});
