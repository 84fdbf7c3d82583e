import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { makeTestModel } from '../helpers/model.js';
import { makeChestLikeJpeg, makeColourPhotoJpeg, makeFilmPhotoJpeg } from '../helpers/images.js';
import { makeDicom } from '../helpers/dicom.js';
import { messages } from '../../src/messages/index.js';
import { makeTempDir, removeDir } from '../training/fixtures.js';

const run = promisify(execFile);
const TSX = path.resolve('node_modules/.bin/tsx');
const CLI = path.resolve('src/cli/classify.ts');

let modelDir: string;
let dir: string;

async function classify(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(TSX, [CLI, ...args], {
      env: { ...process.env, MODEL_DIR: modelDir, WORKERS: '1', ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

beforeAll(async () => {
  modelDir = await makeTestModel({ version: 'cli-test' });
  dir = await makeTempDir('xray-cli');
  await fs.writeFile(path.join(dir, 'chest.jpg'), await makeChestLikeJpeg(300, 320));
  await fs.writeFile(path.join(dir, 'photo.jpg'), await makeColourPhotoJpeg());
  await fs.writeFile(path.join(dir, 'film-photo.jpg'), await makeFilmPhotoJpeg());
  await fs.writeFile(path.join(dir, 'notes.txt'), 'not an image');
  const grey = await sharp(await makeChestLikeJpeg(128, 128))
    .greyscale()
    .raw()
    .toBuffer();
  await fs.writeFile(
    path.join(dir, 'chest.dcm'),
    makeDicom({ width: 128, height: 128, pixels: new Uint8Array(grey) }),
  );
});

afterAll(() => removeDir(dir));

describe('npm run classify', () => {
  it('prints one line per image and the disclaimer once', async () => {
    const r = await classify([path.join(dir, 'chest.jpg'), path.join(dir, 'chest.dcm')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/chest\.jpg: \d+(\.\d)?% COVID-19 .*model cli-test/);
    expect(r.stdout).toMatch(/chest\.dcm: \d+(\.\d)?% COVID-19/);
    expect(r.stdout.match(/research and education only/gi)).toHaveLength(1);
  });

  it('--json gives the probability for an X-ray and a refusal (exit 0) for a colour photo', async () => {
    const ok = await classify([path.join(dir, 'chest.jpg'), '--json']);
    const accepted = JSON.parse(ok.stdout.trim()) as Record<string, unknown>;
    expect(accepted).toMatchObject({ accepted: true, modelVersion: 'cli-test', photo: false });
    expect(typeof accepted['probability']).toBe('number');

    const refused = await classify([path.join(dir, 'photo.jpg'), '--json']);
    expect(refused.code).toBe(0);
    const body = JSON.parse(refused.stdout.trim()) as Record<string, unknown>;
    expect(body).toMatchObject({ accepted: false, reason: 'colour_image' });
    expect(body).not.toHaveProperty('probability');
    expect(String(body['message'])).toMatch(/colour photo/);
  });

  it('says when the image is a phone photo of a film, in --json and in the plain line', async () => {
    const note = messages('en').result.photoNote();
    const json = await classify([path.join(dir, 'film-photo.jpg'), '--json']);
    const body = JSON.parse(json.stdout.trim()) as Record<string, unknown>;
    expect(body).toMatchObject({ accepted: true, photo: true });
    expect(String(body['message'])).toContain(note);
    const plain = await classify([path.join(dir, 'film-photo.jpg'), path.join(dir, 'chest.jpg')]);
    // Once, under the photo's line: the X-ray's line has none.
    expect(plain.stdout.split(note)).toHaveLength(2);
    expect(plain.stdout.indexOf(note)).toBeLessThan(plain.stdout.indexOf('chest.jpg:'));
  });

  it('exits non-zero for an unreadable file, with a clear message', async () => {
    const r = await classify([path.join(dir, 'notes.txt')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/can't read this kind of file/);
  });

  it('--heatmap writes the overlay the bots send', async () => {
    const out = path.join(dir, 'heat.png');
    const r = await classify([path.join(dir, 'chest.jpg'), '--heatmap', out]);
    expect(r.code).toBe(0);
    const meta = await sharp(out).metadata();
    expect(meta.format).toBe('png');
    expect(meta.width).toBeGreaterThan(100);
  });

  it('says how to get a model when there is none', async () => {
    const r = await classify([path.join(dir, 'chest.jpg')], { MODEL_DIR: path.join(dir, 'no-model') });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/npm run train/);
  });
});
