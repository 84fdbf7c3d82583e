/**
 * Turns an X-ray image into a plausible phone photo of it: the X-ray as a film on a light box or
 * on a monitor, inside a room, photographed at a slant under uneven light, then blurred, noisy and
 * re-compressed by a messenger. Used to measure how much such photos change the model's answer
 * (`evaluate --simulate-photo`) and to test the film detector. Seeded: same bytes + seed, same JPEG.
 *
 * sharp does the decoding, blurring and JPEG coding; the scene, the projective warp, the light and
 * the noise are plain loops over float RGB pixels (sharp has no perspective warp).
 */
import { readFile } from 'node:fs/promises';
import sharp, { type Metadata } from 'sharp';
import { applyHomography, homography, rectCorners, type Quad } from '../../src/image/film.js';
import {
  deriveSeed,
  mulberry32,
  randomInt,
  randomNormal,
  randomUniform,
  type Random,
} from '../../src/training/random.js';

export const PHOTO_VARIANTS = ['film', 'monitor'] as const;
export type PhotoVariant = (typeof PHOTO_VARIANTS)[number];

/** The photo's ingredients, each of which can be switched off to measure what it costs. */
export const PHOTO_EFFECTS = [
  'tilt', // perspective slant and rotation
  'tone', // film transmittance curve, screen black and white levels
  'moire', // screen-grid interference (monitor)
  'light', // uneven light: gradient, vignetting, exposure
  'glare', // a reflected lamp or window
  'cast', // white-balance colour cast
  'blur',
  'noise',
  'jpeg', // messenger re-compression (off: one JPEG at quality 95)
] as const;
export type PhotoEffect = (typeof PHOTO_EFFECTS)[number];
type Effects = Record<PhotoEffect, boolean>;

export interface SimulatePhotoOptions {
  /** What is photographed; default: chosen by the seed (half each). */
  variant?: PhotoVariant;
  /** Longest side of the photo, px (default 1024: about what messengers deliver). */
  size?: number;
  /** JPEG quality of the final re-compression; default: drawn from 60..85. */
  quality?: number;
  /** Effects to leave out (for ablations); the seed still draws the same scene. */
  without?: readonly PhotoEffect[];
}

export type { Quad };

export interface SimulatedPhoto {
  jpeg: Buffer;
  width: number;
  height: number;
  variant: PhotoVariant;
  /** Where the X-ray itself ended up in the photo (corners clockwise from top-left). */
  xray: Quad;
  /** Where the light box panel or the monitor (with its bezel) ended up. */
  object: Quad;
  quality: number;
}

/** A phone photo (JPEG bytes) of the X-ray in `bytes`; see {@link simulatePhotoDetailed}. */
export async function simulatePhoto(
  bytes: Uint8Array,
  seed: number,
  options: SimulatePhotoOptions = {},
): Promise<Buffer> {
  return (await simulatePhotoDetailed(bytes, seed, options)).jpeg;
}

/**
 * One photo maker per file (seeds `firstSeed`, `firstSeed + 1`, ...), made only when called: for
 * fitting the gate's head on photos of training X-rays without holding every photo in memory.
 */
export function photoMakers(files: readonly string[], firstSeed: number): (() => Promise<Buffer>)[] {
  return files.map((file, i) => photoMaker(file, firstSeed + i));
}

/** A maker of one photo of the image in `file`, made only when called. */
export function photoMaker(
  file: string,
  seed: number,
  options: SimulatePhotoOptions = {},
): () => Promise<Buffer> {
  return async () => simulatePhoto(await readFile(file), seed, options);
}

/**
 * Makers of one photo of the image in `file` of each kind (on a light box, on a monitor), with the
 * same seed: for fitting the gate's head, which should refuse a knee X-ray however it is shown.
 */
export function photoOfEachVariant(file: string, seed: number): (() => Promise<Buffer>)[] {
  return PHOTO_VARIANTS.map((variant) => photoMaker(file, seed, { variant }));
}

/** The photo plus where things are in it (the ground truth for the film detector). */
export async function simulatePhotoDetailed(
  bytes: Uint8Array,
  seed: number,
  options: SimulatePhotoOptions = {},
): Promise<SimulatedPhoto> {
  // Hashing the seed first: mulberry32's first draws for neighbouring seeds are alike.
  const random = mulberry32(deriveSeed(seed, 'simulate-photo'));
  // Every draw happens whatever the options, so an option changes only what it names.
  const variantDraw = random();
  const qualityDraw = randomInt(random, 60, 86);
  const variant = options.variant ?? (variantDraw < 0.5 ? 'film' : 'monitor');
  const side = options.size ?? 1024;
  const quality = options.quality ?? qualityDraw;
  const on = Object.fromEntries(
    PHOTO_EFFECTS.map((e) => [e, !(options.without ?? []).includes(e)]),
  ) as Effects;

  const meta = await sharp(bytes).rotate().metadata();
  const xrayAspect = orientedAspect(meta);
  // Phones are held the way the thing looks best, mostly.
  const portrait = xrayAspect < 1.1 !== random() < 0.15;
  const width = portrait ? Math.round(side * 0.75) : side;
  const height = portrait ? side : Math.round(side * 0.75);

  const objectFill = randomUniform(random, 0.62, 0.88);
  const plane =
    variant === 'film'
      ? await lightBoxPlane(bytes, xrayAspect, width, height, objectFill, random, on)
      : await monitorPlane(bytes, xrayAspect, width, height, objectFill, random, on);

  const scene = makeSurroundings(width, height, random);
  const object = placeObject(plane.width, plane.height, width, height, random, on.tilt);
  warpInto(scene, plane, object);

  lightAndCast(scene, variant, random, on);
  const sigma = randomUniform(random, 0.6, 1.5);
  const noise = randomUniform(random, 2, 6);
  const blurred = await blur(scene, on.blur ? sigma : 0);
  if (on.noise) addSensorNoise(blurred, width, height, noise, random);
  const jpeg = on.jpeg
    ? await recompress(blurred, width, height, quality)
    : await sharp(blurred, { raw: { width, height, channels: 3 } })
        .jpeg({ quality: 95 })
        .toBuffer();

  const toPhoto = homography(rectCorners(plane.width, plane.height), object);
  const xray = rectCorners(plane.xray.width, plane.xray.height, plane.xray.left, plane.xray.top).map((p) =>
    applyHomography(toPhoto, p),
  ) as Quad;
  return { jpeg, width, height, variant, xray, object, quality };
}

// ---------------------------------------------------------------------------------------------
// The photographed object, flat (its own coordinates, before the perspective warp)
// ---------------------------------------------------------------------------------------------

/** Float RGB, 0..255 per channel, row-major. */
interface RgbImage {
  width: number;
  height: number;
  data: Float32Array;
}

interface Plane extends RgbImage {
  /** The X-ray's rectangle inside the plane. */
  xray: { left: number; top: number; width: number; height: number };
}

function orientedAspect(meta: Metadata): number {
  const w = meta.width ?? 1;
  const h = meta.pageHeight ?? meta.height ?? 1;
  return (meta.orientation ?? 1) >= 5 ? h / w : w / h;
}

/** Grey X-ray pixels scaled to fit `maxW` x `maxH`. */
async function loadXray(
  bytes: Uint8Array,
  aspect: number,
  maxW: number,
  maxH: number,
): Promise<{ data: Uint8Array; width: number; height: number }> {
  const fitW = Math.min(maxW, maxH * aspect);
  const width = Math.max(8, Math.round(fitW));
  const height = Math.max(8, Math.round(fitW / aspect));
  const data = await sharp(bytes)
    .rotate()
    .flatten({ background: '#000000' })
    .greyscale()
    .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
    .extractChannel(0)
    .raw()
    .toBuffer();
  return { data, width, height };
}

function newRgb(width: number, height: number, colour: readonly [number, number, number]): RgbImage {
  const data = new Float32Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) {
    data[i] = colour[0];
    data[i + 1] = colour[1];
    data[i + 2] = colour[2];
  }
  return { width, height, data };
}

/**
 * A film on a light box: the panel glows nearly white and the film lets through more light where
 * the X-ray is bright (bone) than where it is dark (air). A plastic frame surrounds the panel.
 */
async function lightBoxPlane(
  bytes: Uint8Array,
  aspect: number,
  sceneW: number,
  sceneH: number,
  fill: number,
  random: Random,
  on: Effects,
): Promise<Plane> {
  const margin = () => randomUniform(random, 0.02, 0.1);
  const [ml, mr, mt, mb] = [margin(), margin(), margin(), margin()];
  const frame = randomUniform(random, 0.01, 0.03);
  const xr = await loadXray(
    bytes,
    aspect,
    (sceneW * fill) / (1 + ml + mr + 2 * frame),
    (sceneH * fill) / (1 + mt + mb + 2 * frame),
  );
  const s = Math.max(xr.width, xr.height);
  const fr = Math.round(frame * s);
  const left = fr + Math.round(ml * s);
  const top = fr + Math.round(mt * s);
  const width = left + xr.width + Math.round(mr * s) + fr;
  const height = top + xr.height + Math.round(mb * s) + fr;
  const frameGrey = random() < 0.5 ? randomUniform(random, 40, 90) : randomUniform(random, 170, 215);
  const plane = newRgb(width, height, [frameGrey, frameGrey, frameGrey * 1.02]);
  const panel = randomUniform(random, 225, 252);
  const panelTint: [number, number, number] = [
    1,
    randomUniform(random, 0.98, 1.02),
    randomUniform(random, 1, 1.05),
  ];
  // The panel's tubes make it a little brighter in the middle.
  for (let y = fr; y < height - fr; y++) {
    for (let x = fr; x < width - fr; x++) {
      const dx = (x - width / 2) / width;
      const dy = (y - height / 2) / height;
      const glow = 1 - 0.25 * (dx * dx + dy * dy);
      setPixel(plane, x, y, panel * glow, panelTint);
    }
  }
  const floor = ifOn(on.tone, randomUniform(random, 0.03, 0.12), 0);
  const gamma = ifOn(on.tone, randomUniform(random, 0.9, 1.4), 1);
  for (let y = 0; y < xr.height; y++) {
    for (let x = 0; x < xr.width; x++) {
      const g = (xr.data[y * xr.width + x] ?? 0) / 255;
      const transmit = floor + (1 - floor) * g ** gamma;
      const i = ((top + y) * width + left + x) * 3;
      for (let c = 0; c < 3; c++) plane.data[i + c] = (plane.data[i + c] ?? 0) * transmit;
    }
  }
  return { ...plane, xray: { left, top, width: xr.width, height: xr.height } };
}

/**
 * A monitor: dark bezel, a screen with a viewer's black background (and sometimes a toolbar), the
 * X-ray in it, and moiré: the screen's pixel grid beating against the camera's sensor grid.
 */
async function monitorPlane(
  bytes: Uint8Array,
  aspect: number,
  sceneW: number,
  sceneH: number,
  fill: number,
  random: Random,
  on: Effects,
): Promise<Plane> {
  const bezel = randomUniform(random, 0.015, 0.05);
  const side = randomUniform(random, 0.02, 0.18);
  const toolbar = random() < 0.5 ? randomUniform(random, 0.03, 0.06) : 0;
  const vertical = randomUniform(random, 0.01, 0.04);
  const xr = await loadXray(
    bytes,
    aspect,
    (sceneW * fill) / (1 + 2 * side + 2 * bezel),
    (sceneH * fill) / (1 + 2 * vertical + toolbar + 2 * bezel),
  );
  const s = Math.max(xr.width, xr.height);
  const bz = Math.round(bezel * s);
  const screenW = xr.width + 2 * Math.round(side * xr.width);
  const bar = Math.round(toolbar * xr.height);
  const screenH = xr.height + 2 * Math.round(vertical * xr.height) + bar;
  const width = screenW + 2 * bz;
  const height = screenH + 2 * bz;
  const bezelGrey = randomUniform(random, 12, 55);
  const plane = newRgb(width, height, [bezelGrey, bezelGrey, bezelGrey]);
  const black = ifOn(on.tone, randomUniform(random, 8, 35), 0);
  const white = ifOn(on.tone, randomUniform(random, 190, 250), 255);
  const tint: [number, number, number] = [randomUniform(random, 0.94, 1), 1, randomUniform(random, 1, 1.08)];
  for (let y = bz; y < bz + screenH; y++) {
    for (let x = bz; x < bz + screenW; x++) setPixel(plane, x, y, black, tint);
  }
  if (bar > 0) {
    const barGrey = randomUniform(random, 45, 80);
    for (let y = bz; y < bz + bar; y++) {
      for (let x = bz; x < bz + screenW; x++) {
        // A few lighter buttons along the bar.
        const button =
          (x - bz) % Math.max(8, bar * 2) < bar * 1.2 && y > bz + bar * 0.2 && y < bz + bar * 0.8;
        setPixel(plane, x, y, button ? barGrey + 50 : barGrey, tint);
      }
    }
  }
  const left = Math.round((width - xr.width) / 2);
  const top = bz + bar + Math.round((screenH - bar - xr.height) / 2);
  const gamma = ifOn(on.tone, randomUniform(random, 0.85, 1.2), 1);
  for (let y = 0; y < xr.height; y++) {
    for (let x = 0; x < xr.width; x++) {
      const g = (xr.data[y * xr.width + x] ?? 0) / 255;
      setPixel(plane, left + x, top + y, black + (white - black) * g ** gamma, tint);
    }
  }
  addMoire(plane, { left: bz, top: bz, width: screenW, height: screenH }, random, on.moire);
  return { ...plane, xray: { left, top, width: xr.width, height: xr.height } };
}

/** `value` when the effect is on, else `otherwise`; `value` is drawn either way (same stream). */
function ifOn<T>(enabled: boolean, value: T, otherwise: T): T {
  return enabled ? value : otherwise;
}

function setPixel(img: RgbImage, x: number, y: number, value: number, tint: readonly number[]): void {
  const i = (y * img.width + x) * 3;
  img.data[i] = value * (tint[0] ?? 1);
  img.data[i + 1] = value * (tint[1] ?? 1);
  img.data[i + 2] = value * (tint[2] ?? 1);
}

/**
 * Moiré: two fine gratings at slightly different frequencies and angles beat into slow, wavy
 * bands; each colour channel gets its own phase, which gives the typical rainbow fringes.
 */
function addMoire(
  img: RgbImage,
  screen: { left: number; top: number; width: number; height: number },
  random: Random,
  enabled: boolean,
): void {
  const amplitude = randomUniform(random, 0.03, 0.08);
  const period = randomUniform(random, 2.6, 4.5);
  const angle = randomUniform(random, 0, Math.PI);
  const beat = randomUniform(random, 0.06, 0.16);
  const twist = randomUniform(random, -0.08, 0.08);
  const k1 = (2 * Math.PI) / period;
  const k2 = k1 * (1 + beat);
  const a2 = angle + twist;
  const phases = [0, randomUniform(random, 0.5, 2), randomUniform(random, 2, 4)];
  const wobble = randomUniform(random, 0, 2e-5);
  if (!enabled) return;
  for (let y = screen.top; y < screen.top + screen.height; y++) {
    for (let x = screen.left; x < screen.left + screen.width; x++) {
      const bend = wobble * ((x - screen.left) ** 2 + (y - screen.top) ** 2);
      const u1 = k1 * (x * Math.cos(angle) + y * Math.sin(angle));
      const u2 = k2 * (x * Math.cos(a2) + y * Math.sin(a2)) + bend;
      const i = (y * img.width + x) * 3;
      for (let c = 0; c < 3; c++) {
        const pattern = Math.cos(u1 + (phases[c] ?? 0)) * Math.cos(u2);
        img.data[i + c] = (img.data[i + c] ?? 0) * (1 + amplitude * pattern);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The room around it
// ---------------------------------------------------------------------------------------------

/** A desk, wall or dark room: a random base colour, smooth blotches, grain, and a few objects. */
function makeSurroundings(width: number, height: number, random: Random): RgbImage {
  const kind = random();
  const base: [number, number, number] =
    kind < 0.35
      ? [randomUniform(random, 110, 170), randomUniform(random, 70, 115), randomUniform(random, 40, 75)] // wood
      : kind < 0.75
        ? [randomUniform(random, 150, 225), randomUniform(random, 145, 220), randomUniform(random, 130, 210)] // wall
        : [randomUniform(random, 25, 70), randomUniform(random, 25, 70), randomUniform(random, 25, 75)]; // dim room
  const scene = newRgb(width, height, base);
  const blotches = smoothField(width, height, 5, random);
  const grain = kind < 0.35;
  const grainFreq = randomUniform(random, 0.05, 0.15);
  const grainAngle = randomUniform(random, -0.2, 0.2);
  const strength = randomUniform(random, 8, 22);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let v = strength * (blotches[y * width + x] ?? 0);
      if (grain) {
        const t = y * Math.cos(grainAngle) + x * Math.sin(grainAngle);
        v += 10 * Math.sin(t * grainFreq + 3 * Math.sin(x * 0.01)) * Math.sin(t * grainFreq * 0.31);
      }
      const i = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) scene.data[i + c] = (scene.data[i + c] ?? 0) + v;
    }
  }
  const things = randomInt(random, 0, 4);
  for (let k = 0; k < things; k++) {
    const w = randomUniform(random, 0.1, 0.4) * width;
    const h = randomUniform(random, 0.05, 0.3) * height;
    const x0 = randomUniform(random, -0.1, 1) * width;
    const y0 = randomUniform(random, -0.1, 1) * height;
    // Paper, a keyboard, a folder: muted colours, lit from one side.
    const grey = randomUniform(random, 30, 230);
    const colour = [0, 1, 2].map(() => grey * randomUniform(random, 0.8, 1.2));
    const shade = randomUniform(random, -0.25, 0.25);
    for (let y = Math.max(0, Math.floor(y0)); y < Math.min(height, y0 + h); y++) {
      for (let x = Math.max(0, Math.floor(x0)); x < Math.min(width, x0 + w); x++) {
        const lit = 1 + shade * ((x - x0) / w - 0.5) + 0.03 * (blotches[y * width + x] ?? 0);
        const i = (y * width + x) * 3;
        for (let c = 0; c < 3; c++) scene.data[i + c] = (colour[c] ?? 0) * lit;
      }
    }
  }
  return scene;
}

/** Smooth noise in -1..1: a coarse random grid, bilinearly upsampled. */
function smoothField(width: number, height: number, cells: number, random: Random): Float32Array {
  const gw = cells + 1;
  const grid = Array.from({ length: gw * gw }, () => random() * 2 - 1);
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const gy = (y / height) * cells;
    const y0 = Math.min(cells - 1, Math.floor(gy));
    const fy = gy - y0;
    for (let x = 0; x < width; x++) {
      const gx = (x / width) * cells;
      const x0 = Math.min(cells - 1, Math.floor(gx));
      const fx = gx - x0;
      const i = y0 * gw + x0;
      out[y * width + x] =
        ((grid[i] ?? 0) * (1 - fx) + (grid[i + 1] ?? 0) * fx) * (1 - fy) +
        ((grid[i + gw] ?? 0) * (1 - fx) + (grid[i + gw + 1] ?? 0) * fx) * fy;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Perspective
// ---------------------------------------------------------------------------------------------

/**
 * Where the object's corners land in the photo: scaled to fit, shifted a little, rotated a few
 * degrees, and each corner pushed independently (the camera is not square to the object).
 */
function placeObject(
  objW: number,
  objH: number,
  sceneW: number,
  sceneH: number,
  random: Random,
  slant: boolean,
): Quad {
  const cx = sceneW / 2 + randomUniform(random, -0.06, 0.06) * sceneW;
  const cy = sceneH / 2 + randomUniform(random, -0.06, 0.06) * sceneH;
  const angle = (randomUniform(random, -5, 5) * Math.PI) / 180;
  const tilt = randomUniform(random, 0.02, 0.07) * Math.max(sceneW, sceneH);
  // Keystone: one side shorter than the other, as when the phone looks up, down or sideways.
  const keystoneX = randomUniform(random, -1, 1) * tilt;
  const keystoneY = randomUniform(random, -1, 1) * tilt;
  const corners = rectCorners(objW, objH, -objW / 2, -objH / 2).map((p, i) => {
    const sx = i === 0 || i === 3 ? -1 : 1;
    const sy = i < 2 ? -1 : 1;
    const jitterX = randomNormal(random, 0, tilt * 0.25);
    const jitterY = randomNormal(random, 0, tilt * 0.25);
    if (!slant) return { x: cx + p.x, y: cy + p.y };
    const x = p.x + sy * keystoneX * sx * 0.5 + jitterX;
    const y = p.y + sx * keystoneY * sy * 0.5 + jitterY;
    return {
      x: cx + x * Math.cos(angle) - y * Math.sin(angle),
      y: cy + x * Math.sin(angle) + y * Math.cos(angle),
    };
  });
  // Keep the whole object in the picture with a little room around it.
  const xs = corners.map((p) => p.x);
  const ys = corners.map((p) => p.y);
  const pad = 0.02;
  const dx = shiftInto(Math.min(...xs), Math.max(...xs), sceneW * pad, sceneW * (1 - pad));
  const dy = shiftInto(Math.min(...ys), Math.max(...ys), sceneH * pad, sceneH * (1 - pad));
  return corners.map((p) => ({ x: p.x + dx, y: p.y + dy })) as Quad;
}

function shiftInto(lo: number, hi: number, min: number, max: number): number {
  if (hi - lo > max - min) return (min + max) / 2 - (lo + hi) / 2;
  if (lo < min) return min - lo;
  if (hi > max) return max - hi;
  return 0;
}

/**
 * Paints `plane` into `scene` where its corners land on `quad`: inverse mapping (photo pixel ->
 * plane position) with bilinear sampling; plane edges are blended by coverage to avoid jaggies.
 */
function warpInto(scene: RgbImage, plane: RgbImage, quad: Quad): void {
  const inverse = homography(quad, rectCorners(plane.width, plane.height));
  const xs = quad.map((p) => p.x);
  const ys = quad.map((p) => p.y);
  const x0 = Math.max(0, Math.floor(Math.min(...xs)));
  const x1 = Math.min(scene.width - 1, Math.ceil(Math.max(...xs)));
  const y0 = Math.max(0, Math.floor(Math.min(...ys)));
  const y1 = Math.min(scene.height - 1, Math.ceil(Math.max(...ys)));
  const pw = plane.width;
  const ph = plane.height;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const p = applyHomography(inverse, { x: x + 0.5, y: y + 0.5 });
      const u = p.x - 0.5;
      const v = p.y - 0.5;
      // Coverage: 1 inside, fading to 0 over one pixel outside the plane.
      const coverage = Math.min(1, u + 1, pw - u, v + 1, ph - v);
      if (coverage <= 0) continue;
      const uc = Math.min(pw - 1, Math.max(0, u));
      const vc = Math.min(ph - 1, Math.max(0, v));
      const ix = Math.min(pw - 2, Math.floor(uc));
      const iy = Math.min(ph - 2, Math.floor(vc));
      const fx = uc - ix;
      const fy = vc - iy;
      const o = (y * scene.width + x) * 3;
      const i00 = (iy * pw + ix) * 3;
      const i10 = i00 + 3;
      const i01 = i00 + pw * 3;
      const i11 = i01 + 3;
      const d = plane.data;
      for (let c = 0; c < 3; c++) {
        const value =
          ((d[i00 + c] ?? 0) * (1 - fx) + (d[i10 + c] ?? 0) * fx) * (1 - fy) +
          ((d[i01 + c] ?? 0) * (1 - fx) + (d[i11 + c] ?? 0) * fx) * fy;
        scene.data[o + c] = (scene.data[o + c] ?? 0) * (1 - coverage) + value * coverage;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Light, colour, optics, sensor, compression
// ---------------------------------------------------------------------------------------------

/**
 * Uneven light (a gradient across the picture and lens vignetting), a glare spot (a lamp or
 * window reflected in the film or screen), a white-balance cast and an exposure change.
 */
function lightAndCast(scene: RgbImage, variant: PhotoVariant, random: Random, on: Effects): void {
  const { width, height, data } = scene;
  const side = Math.max(width, height);
  const gradAngle = randomUniform(random, 0, 2 * Math.PI);
  const gradStrength = randomUniform(random, 0.1, 0.35);
  const vignette = randomUniform(random, 0.05, 0.25);
  const exposure = randomUniform(random, 0.85, 1.08);
  const castKind = random();
  const cast: [number, number, number] =
    castKind < 0.4
      ? [randomUniform(random, 1.05, 1.18), 1, randomUniform(random, 0.75, 0.92)] // warm lamp
      : castKind < 0.7
        ? [randomUniform(random, 0.82, 0.95), 1, randomUniform(random, 1.05, 1.2)] // daylight / screen blue
        : [randomUniform(random, 0.9, 1), randomUniform(random, 1.03, 1.1), randomUniform(random, 0.88, 1)]; // fluorescent green
  const glare = random() < (variant === 'monitor' ? 0.8 : 0.6) && on.glare;
  const gx = randomUniform(random, 0.2, 0.8) * width;
  const gy = randomUniform(random, 0.2, 0.8) * height;
  const gSigmaA = randomUniform(random, 0.03, 0.12) * side;
  const gSigmaB = gSigmaA * randomUniform(random, 0.3, 1);
  const gAngle = randomUniform(random, 0, Math.PI);
  const gStrength = randomUniform(random, 40, 130);
  const cos = Math.cos(gradAngle);
  const sin = Math.sin(gradAngle);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const nx = (x - width / 2) / side;
      const ny = (y - height / 2) / side;
      const light = on.light
        ? exposure * (1 + gradStrength * (nx * cos + ny * sin) * 2) * (1 - vignette * (nx * nx + ny * ny) * 2)
        : 1;
      let spot = 0;
      if (glare) {
        const dx = x - gx;
        const dy = y - gy;
        const a = (dx * Math.cos(gAngle) + dy * Math.sin(gAngle)) / gSigmaA;
        const b = (-dx * Math.sin(gAngle) + dy * Math.cos(gAngle)) / gSigmaB;
        spot = gStrength * Math.exp(-0.5 * (a * a + b * b));
      }
      const i = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) {
        data[i + c] = ((data[i + c] ?? 0) * light + spot) * (on.cast ? (cast[c] ?? 1) : 1);
      }
    }
  }
}

function toBytes(img: RgbImage): Buffer {
  const out = Buffer.alloc(img.data.length);
  for (let i = 0; i < img.data.length; i++) out[i] = Math.max(0, Math.min(255, Math.round(img.data[i] ?? 0)));
  return out;
}

/** Optics; sigma 0 leaves the pixels sharp. */
async function blur(img: RgbImage, sigma: number): Promise<Buffer> {
  if (sigma <= 0) return toBytes(img);
  return sharp(toBytes(img), { raw: { width: img.width, height: img.height, channels: 3 } })
    .blur(sigma)
    .raw()
    .toBuffer();
}

/**
 * Sensor noise after the optics: grain per channel plus some shared (luminance) grain. The normal
 * deviates come from a seeded table (four per pixel would cost more than the rest of the photo).
 */
function addSensorNoise(pixels: Buffer, width: number, height: number, sd: number, random: Random): void {
  const table = Float32Array.from({ length: NOISE_TABLE }, () => randomNormal(random));
  const pick = () => table[Math.floor(random() * NOISE_TABLE)] ?? 0;
  for (let p = 0; p < width * height; p++) {
    const shared = sd * 0.6 * pick();
    for (let c = 0; c < 3; c++) {
      const i = p * 3 + c;
      const value = (pixels[i] ?? 0) + shared + sd * 0.8 * pick();
      pixels[i] = Math.max(0, Math.min(255, Math.round(value)));
    }
  }
}

const NOISE_TABLE = 1 << 16;

/** The phone saves a good JPEG; the messenger re-compresses it harder. */
async function recompress(pixels: Buffer, width: number, height: number, quality: number): Promise<Buffer> {
  const phone = await sharp(pixels, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 92 })
    .toBuffer();
  return sharp(phone).jpeg({ quality, chromaSubsampling: '4:2:0' }).toBuffer();
}
