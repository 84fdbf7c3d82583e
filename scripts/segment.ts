/**
 * `npm run segment -- <file...> --out <dir> [--overlay]`: the lung mask of each image as a PNG
 * of the input's size (255 lung, 0 background), with its area and plausibility; `--overlay`
 * also writes the image with the mask outline in red. Images whose lungs are not found get the
 * bot's refusal text (their mask is still written, for inspection).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command } from 'commander';
import sharp from 'sharp';
import { loadConfig } from '../src/config.js';
import { toXrayError } from '../src/core/errors.js';
import { decodeImage, type DecodedImage } from '../src/image/decode.js';
import {
  createSegmenter,
  lungsFound,
  maskOutline,
  type LungMask,
  type Segmenter,
} from '../src/lungs/segment.js';
import { formatError, messages } from '../src/messages/index.js';

interface Options {
  out: string;
  overlay: boolean;
  model?: string;
  json: boolean;
  lang: string;
}

const program = new Command()
  .name('npm run segment --')
  .description('Write the lung mask of chest X-ray images (research and education only).')
  .argument('<file...>', 'image files: JPEG, PNG, WebP, TIFF or DICOM')
  .requiredOption('--out <dir>', 'folder for <name>.mask.png (and <name>.overlay.png)')
  .option('--overlay', 'also write the image with the lung outline in red', false)
  .option('--model <dir>', 'lung model directory (default: <MODEL_DIR>/lungs)')
  .option('--json', 'one JSON object per file', false)
  .option('--lang <code>', 'language of the messages (en, es, ru)', 'en')
  .action(run);

async function run(files: string[], o: Options): Promise<void> {
  const config = loadConfig();
  const modelDir = path.resolve(o.model ?? path.join(config.modelDir, 'lungs'));
  let segmenter: Segmenter;
  try {
    segmenter = await createSegmenter({ modelDir, backend: config.backend });
  } catch (error) {
    const e = toXrayError(error);
    console.error(
      e.code === 'model_missing'
        ? `No lung model in ${modelDir} yet: train one with npm run train:lungs (or pass --model).`
        : `Could not load the lung model in ${modelDir}: ${e.message}`,
    );
    process.exitCode = 2;
    return;
  }
  await fs.mkdir(o.out, { recursive: true });
  const limits = { maxBytes: config.maxImageBytes, maxPixels: config.maxImagePixels };
  let failures = 0;
  try {
    for (const file of files) {
      const name = path.basename(file).replace(/\.[^.]+$/, '');
      let decoded: DecodedImage;
      try {
        decoded = await decodeImage(await fs.readFile(file), limits);
      } catch (error) {
        failures++;
        const message =
          toXrayError(error).code === 'internal' ? `Cannot read ${file}.` : formatError(error, o.lang);
        if (o.json) console.log(JSON.stringify({ file, error: toXrayError(error).code, message }));
        else console.error(`${path.basename(file)}: ${message}`);
        continue;
      }
      const started = performance.now();
      const mask = await segmenter.segment(decoded);
      const ms = performance.now() - started;
      const maskFile = path.join(o.out, `${name}.mask.png`);
      await writeMaskAtSourceSize(mask, decoded, maskFile);
      const overlayFile = path.join(o.out, `${name}.overlay.png`);
      if (o.overlay) await writeOverlay(decoded, mask, overlayFile);
      report(file, mask, decoded, ms, segmenter.card.minPlausibility, o);
    }
  } finally {
    segmenter.dispose();
  }
  if (!o.json) console.log(`\n⚠️ ${messages(o.lang).disclaimer}`);
  if (failures > 0) process.exitCode = 1;
}

function report(
  file: string,
  mask: LungMask,
  decoded: DecodedImage,
  ms: number,
  min: number,
  o: Options,
): void {
  const found = lungsFound(mask, min);
  // The box in the input's own pixels (the working copy may be smaller).
  const sx = decoded.sourceWidth / decoded.width;
  const sy = decoded.sourceHeight / decoded.height;
  const box =
    mask.box === null
      ? null
      : {
          left: Math.round(mask.box.left * sx),
          top: Math.round(mask.box.top * sy),
          width: Math.round(mask.box.width * sx),
          height: Math.round(mask.box.height * sy),
        };
  if (o.json) {
    console.log(
      JSON.stringify({
        file,
        lungsFound: found,
        ...(found ? {} : { reason: 'lungs_not_found', message: messages(o.lang).refusal.lungs_not_found }),
        area: round(mask.area),
        plausibility: round(mask.plausibility),
        components: mask.components,
        box,
        width: decoded.sourceWidth,
        height: decoded.sourceHeight,
        ms: Math.round(ms),
      }),
    );
    return;
  }
  const figures =
    `lungs ${(mask.area * 100).toFixed(1)} % of the image, plausibility ${mask.plausibility.toFixed(2)}` +
    `${box === null ? '' : `, box ${box.left},${box.top} ${box.width}x${box.height}`}, ${ms.toFixed(0)} ms`;
  console.log(
    found
      ? `${path.basename(file)}: ${figures}`
      : `${path.basename(file)}: ${messages(o.lang).refusal.lungs_not_found} (${figures})`,
  );
}

/** The mask as a PNG of the input's size: the working copy is at most 1024 px on its long side. */
async function writeMaskAtSourceSize(mask: LungMask, decoded: DecodedImage, file: string): Promise<void> {
  let image = sharp(mask.data, { raw: { width: mask.width, height: mask.height, channels: 1 } });
  if (decoded.sourceWidth !== mask.width || decoded.sourceHeight !== mask.height) {
    const grey = await image
      .resize({ width: decoded.sourceWidth, height: decoded.sourceHeight, fit: 'fill', kernel: 'linear' })
      .extractChannel(0)
      .raw()
      .toBuffer();
    const binary = Uint8Array.from(grey, (v) => (v >= 128 ? 255 : 0));
    image = sharp(binary, { raw: { width: decoded.sourceWidth, height: decoded.sourceHeight, channels: 1 } });
  }
  await image.toColourspace('b-w').png().toFile(file);
}

/** The working copy in grey with the mask outline in red, thickened on large images. */
async function writeOverlay(decoded: DecodedImage, mask: LungMask, file: string): Promise<void> {
  const { width, height } = decoded;
  let outline = maskOutline(mask);
  const thickness = Math.max(1, Math.round(Math.max(width, height) / 300));
  if (thickness > 1) {
    outline = await sharp(outline, { raw: { width, height, channels: 1 } })
      .dilate(thickness - 1)
      .extractChannel(0)
      .raw()
      .toBuffer()
      .then((b) => new Uint8Array(b));
  }
  const rgb = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    const grey = decoded.data[i] ?? 0;
    const edge = outline[i] !== 0;
    rgb[3 * i] = edge ? 255 : grey;
    rgb[3 * i + 1] = edge ? 40 : grey;
    rgb[3 * i + 2] = edge ? 40 : grey;
  }
  await sharp(rgb, { raw: { width, height, channels: 3 } })
    .png()
    .toFile(file);
}

function round(v: number): number {
  return Math.round(v * 1e4) / 1e4;
}

await program.parseAsync();
