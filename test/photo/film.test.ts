import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { decodeImage, type DecodedImage } from '../../src/image/decode.js';
import {
  cropDecoded,
  cutOutFilm,
  detectFilm,
  homography,
  innerBox,
  applyHomography,
  rectifyFilm,
  trimPlainBorders,
  type FilmBox,
  type Quad,
} from '../../src/image/film.js';
import { simulatePhotoDetailed } from '../../scripts/lib/simulate-photo.js';
import { makeChestLikeJpeg } from '../helpers/images.js';
import { prepareDecoded, preprocess } from '../../src/image/preprocess.js';

/** The box the film finder finds (the upright box inside its outline), or null. */
const findFilm = (image: DecodedImage): FilmBox | null => detectFilm(image)?.box ?? null;

function iou(a: FilmBox, b: FilmBox): number {
  const w = Math.min(a.left + a.width, b.left + b.width) - Math.max(a.left, b.left);
  const h = Math.min(a.top + a.height, b.top + b.height) - Math.max(a.top, b.top);
  const inter = Math.max(0, w) * Math.max(0, h);
  return inter / (a.width * a.height + b.width * b.height - inter);
}

/** A room-like background: a colour with smooth blotches (blurred noise), as a phone sees a desk. */
async function surroundings(width: number, height: number, mean: number): Promise<Buffer> {
  return sharp({
    create: {
      width,
      height,
      channels: 3,
      background: '#000000',
      noise: { type: 'gaussian', mean, sigma: 40 },
    },
  })
    .blur(6)
    .linear([1.1, 1, 0.85], [0, 0, 0])
    .png()
    .toBuffer();
}

async function scene(
  background: Buffer,
  layers: { input: Buffer; left: number; top: number }[],
): Promise<DecodedImage> {
  return decodeImage(await sharp(background).composite(layers).jpeg({ quality: 85 }).toBuffer());
}

/** The same scene in grey: a picture without colour, as a scan would be. */
async function greyScene(
  background: Buffer,
  layers: { input: Buffer; left: number; top: number }[],
): Promise<DecodedImage> {
  return decodeImage(await sharp(background).composite(layers).greyscale().jpeg({ quality: 85 }).toBuffer());
}

async function panel(width: number, height: number, grey: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: grey, g: grey, b: grey } } })
    .png()
    .toBuffer();
}

/** A 300x360 film at (250, 120) with a light card lying across its left side (`cardHeight` px of it, from `cardTop`). */
async function filmUnderCard(
  cardHeight: number,
  cardTop: number,
): Promise<{ film: FilmBox; layers: { input: Buffer; left: number; top: number }[] }> {
  const film = { left: 250, top: 120, width: 300, height: 360 };
  const layers = [
    { input: await makeChestLikeJpeg(film.width, film.height), left: film.left, top: film.top },
    { input: await panel(110, cardHeight, 215), left: 170, top: cardTop },
  ];
  return { film, layers };
}

describe('findFilm', () => {
  it('finds an X-ray lying on a desk', async () => {
    const film = { left: 250, top: 120, width: 300, height: 360 };
    const image = await scene(await surroundings(800, 600, 140), [
      { input: await makeChestLikeJpeg(film.width, film.height), left: film.left, top: film.top },
    ]);
    const box = findFilm(image);
    expect(box).not.toBeNull();
    expect(iou(box as FilmBox, film)).toBeGreaterThan(0.8);
  });

  it('finds the film, not the light box around it', async () => {
    const film = { left: 240, top: 110, width: 320, height: 380 };
    const image = await scene(await surroundings(800, 600, 70), [
      { input: await panel(420, 480, 245), left: 190, top: 60 },
      {
        input: await makeChestLikeJpeg(film.width, film.height, { seed: 3 }),
        left: film.left,
        top: film.top,
      },
    ]);
    const found = detectFilm(image);
    expect(found?.depth).toBeGreaterThanOrEqual(2);
    expect(iou(found?.box ?? { left: 0, top: 0, width: 1, height: 1 }, film)).toBeGreaterThan(0.8);
  });

  it('finds a film with one side partly hidden by something lying across it, in a colour photo only', async () => {
    // A card across the film's left side hides 130 of its 360 px.
    const { film, layers } = await filmUnderCard(130, 230);
    const photo = await scene(await surroundings(800, 600, 140), layers);
    expect(photo.colourfulness).toBeGreaterThan(0.01);
    const box = findFilm(photo);
    expect(box).not.toBeNull();
    expect(iou(box as FilmBox, film)).toBeGreaterThan(0.8);
    // The same picture in grey is more likely a scan whose border anatomy cuts: left alone.
    const grey = await greyScene(await surroundings(800, 600, 140), layers);
    expect(grey.colourfulness).toBeLessThan(0.01);
    expect(findFilm(grey)).toBeNull();
  });

  it('counts a side followed along three quarters of it as there, even in a grey photo', async () => {
    // Something touching a screen or film (a stand, a card) often covers a little of one side;
    // such a side still counts, so the outline is not lost, nor beaten by one inside the X-ray.
    // A card across the film's left side hides 100 of its 360 px: the outline follows about
    // 0.78 of that side (at least MIN_SIDE_SUPPORT, 0.75).
    const { film, layers } = await filmUnderCard(100, 250);
    const grey = await greyScene(await surroundings(800, 600, 140), layers);
    expect(grey.colourfulness).toBeLessThan(0.01);
    const box = findFilm(grey);
    expect(box).not.toBeNull();
    expect(iou(box as FilmBox, film)).toBeGreaterThan(0.8);
  });

  it("finds a film photographed close enough to reach the photo's edge, in a colour photo only", async () => {
    // The film reaches the bottom edge and fills over half of the photo: only three sides keep
    // a margin from the border.
    const film = { left: 110, top: 60, width: 420, height: 418 };
    const layers = [
      { input: await makeChestLikeJpeg(film.width, film.height, { seed: 4 }), left: 110, top: 60 },
    ];
    const photo = await scene(await surroundings(640, 480, 140), layers);
    expect(photo.colourfulness).toBeGreaterThan(0.01);
    const box = findFilm(photo);
    expect(box).not.toBeNull();
    expect(iou(box as FilmBox, film)).toBeGreaterThan(0.8);
    // In a grey picture, a region running off an edge is the body or a bright band: left alone.
    expect(findFilm(await greyScene(await surroundings(640, 480, 140), layers))).toBeNull();
    // So is a smaller object reaching the edge (a bright implant cut by the border).
    const small = [{ input: await makeChestLikeJpeg(240, 300, { seed: 4 }), left: 200, top: 178 }];
    expect(findFilm(await scene(await surroundings(640, 480, 140), small))).toBeNull();
  });

  it('finds the X-ray in simulated phone photos (tilted, lit unevenly, on a light box or a monitor)', async () => {
    const xray = await makeChestLikeJpeg(300, 340, { seed: 5 });
    for (const seed of [1, 2, 3, 4]) {
      const photo = await simulatePhotoDetailed(xray, seed, { size: 768 });
      const image = await decodeImage(photo.jpeg);
      const truth = innerBox(photo.xray);
      const box = findFilm(image);
      expect(box, `seed ${seed} (${photo.variant})`).not.toBeNull();
      expect(iou(box as FilmBox, truth), `seed ${seed} (${photo.variant})`).toBeGreaterThan(0.5);
    }
  });

  it("finds the X-ray inside a monitor's viewer whose margin is not quite plain", async () => {
    // Seed 13: the viewer's margin around the X-ray has 0.53 of the X-ray's detail (glare, moiré).
    const photo = await simulatePhotoDetailed(await makeChestLikeJpeg(300, 340, { seed: 5 }), 13, {
      size: 768,
      variant: 'monitor',
    });
    const found = detectFilm(await decodeImage(photo.jpeg));
    expect(found?.depth).toBeGreaterThanOrEqual(2);
    expect(iou(found?.box ?? { left: 0, top: 0, width: 1, height: 1 }, innerBox(photo.xray))).toBeGreaterThan(
      0.8,
    );
  });

  it('returns null when the picture is the X-ray', async () => {
    for (const [w, h] of [
      [256, 256],
      [512, 420],
      [224, 224],
    ] as const) {
      expect(findFilm(await decodeImage(await makeChestLikeJpeg(w, h)))).toBeNull();
    }
    // A scanned film padded with digital black is still the X-ray, not a photo of one.
    const padded = await sharp(await makeChestLikeJpeg(300, 340))
      .extend({ top: 40, bottom: 40, left: 60, right: 60, background: '#000000' })
      .jpeg()
      .toBuffer();
    expect(findFilm(await decodeImage(padded))).toBeNull();
    // Nothing at all to find.
    expect(
      findFilm(await decodeImage(await panel(300, 300, 128).then((b) => sharp(b).jpeg().toBuffer()))),
    ).toBeNull();
  });

  it('cropDecoded cuts the working copy to the box', async () => {
    const image = await decodeImage(await makeChestLikeJpeg(100, 80));
    const crop = cropDecoded(image, { left: 10, top: 20, width: 30, height: 40 });
    expect([crop.width, crop.height, crop.data.length]).toEqual([30, 40, 1200]);
    expect(crop.data[0]).toBe(image.data[20 * 100 + 10]);
    expect(crop.data[1199]).toBe(image.data[59 * 100 + 39]);
  });

  it('rectifyFilm undoes a perspective slant', async () => {
    const image = await decodeImage(await makeChestLikeJpeg(200, 160));
    // An upright quadrilateral gives back the plain crop.
    const upright: Quad = [
      { x: 20, y: 10 },
      { x: 120, y: 10 },
      { x: 120, y: 90 },
      { x: 20, y: 90 },
    ];
    const flat = rectifyFilm(image, upright);
    const crop = cropDecoded(image, { left: 20, top: 10, width: 100, height: 80 });
    expect([flat.width, flat.height]).toEqual([100, 80]);
    let diff = 0;
    for (let i = 0; i < crop.data.length; i++) diff += Math.abs((flat.data[i] ?? 0) - (crop.data[i] ?? 0));
    expect(diff / crop.data.length).toBeLessThan(1);
    // The homography maps the corners where asked.
    const slanted: Quad = [
      { x: 30, y: 12 },
      { x: 170, y: 25 },
      { x: 160, y: 150 },
      { x: 20, y: 140 },
    ];
    const m = homography(
      [
        { x: 0, y: 0 },
        { x: 1, y: 0 },
        { x: 1, y: 1 },
        { x: 0, y: 1 },
      ],
      slanted,
    );
    const corner = applyHomography(m, { x: 1, y: 1 });
    expect(corner.x).toBeCloseTo(160, 6);
    expect(corner.y).toBeCloseTo(150, 6);
  });
});

describe('cutting the film out', () => {
  it('trims plain strips (a panel, a viewer background) off the edges, and nothing else', async () => {
    const texture = await sharp({
      create: {
        width: 200,
        height: 160,
        channels: 3,
        background: '#000',
        noise: { type: 'gaussian', mean: 120, sigma: 50 },
      },
    })
      .png()
      .toBuffer();
    const framed = await decodeImage(
      await sharp(texture)
        .extend({ top: 20, bottom: 10, left: 30, right: 25, background: { r: 235, g: 235, b: 235 } })
        .png()
        .toBuffer(),
    );
    const trimmed = trimPlainBorders(framed);
    expect([trimmed.width, trimmed.height]).toEqual([200, 160]);
    expect(trimmed.data[0]).toBe(framed.data[20 * framed.width + 30]);
    // A picture without plain strips comes back as it was.
    const bare = await decodeImage(texture);
    expect(trimPlainBorders(bare)).toBe(bare);
  });

  it("undistorts the film and keeps the film's colourfulness, not the room's", async () => {
    const photo = await simulatePhotoDetailed(await makeChestLikeJpeg(300, 340, { seed: 5 }), 2, {
      size: 768,
    });
    const image = await decodeImage(photo.jpeg);
    const cut = cutOutFilm(image);
    expect(cut).not.toBeNull();
    expect(cut?.colourCells).toBeUndefined();
    expect(cut?.colourfulness ?? 1).toBeLessThan(image.colourfulness);
    // The X-ray's proportions, whatever the slant.
    expect((cut?.width ?? 0) / (cut?.height ?? 1)).toBeCloseTo(300 / 340, 1);
    expect(cutOutFilm(await decodeImage(await makeChestLikeJpeg(300, 340)))).toBeNull();
  });

  it("gives the model an input closer to the X-ray's own than cropping to the box inside the outline", async () => {
    const SPEC = {
      size: 48,
      channels: 1,
      crop: 1,
      fit: 'fill',
      contrast: 'normalise',
      scale: 'unit',
      film: false,
    } as const;
    const xray = await makeChestLikeJpeg(300, 340, { seed: 5 });
    const own = (await preprocess(xray, SPEC)).input.data;
    const gap = async (image: DecodedImage) =>
      (await prepareDecoded(image, SPEC)).input.data.reduce((s, v, i) => s + Math.abs(v - (own[i] ?? 0)), 0) /
      own.length;
    let cutGap = 0;
    let boxGap = 0;
    for (const seed of [1, 2, 3, 4]) {
      const photo = await decodeImage((await simulatePhotoDetailed(xray, seed, { size: 768 })).jpeg);
      const box = findFilm(photo);
      const cut = cutOutFilm(photo);
      expect(box !== null && cut !== null, `seed ${seed}`).toBe(true);
      if (box === null || cut === null) continue;
      cutGap += await gap(cut);
      boxGap += await gap(cropDecoded(photo, box));
    }
    expect(cutGap).toBeLessThan(boxGap);
  });
});

describe('the film step in the one preprocessing path', () => {
  const SPEC = {
    size: 32,
    channels: 1,
    crop: 1,
    fit: 'fill',
    contrast: 'none',
    scale: 'unit',
    film: true,
  } as const;

  it('cuts a phone photo to the X-ray before the model input is made', async () => {
    const xray = await makeChestLikeJpeg(300, 340, { seed: 5 });
    const photo = await simulatePhotoDetailed(xray, 1, { size: 768 });
    const withFilm = await preprocess(photo.jpeg, SPEC);
    const without = await preprocess(photo.jpeg, { ...SPEC, film: false });
    // Said in the result, so replies can say that answers on photos are less certain.
    expect([withFilm.film, without.film]).toEqual([true, false]);
    expect(withFilm.decoded.width * withFilm.decoded.height).toBeLessThan(
      0.8 * without.decoded.width * without.decoded.height,
    );
    // The model sees the same X-ray, cut out: closer to the X-ray's own input than the whole photo is.
    const own = (await preprocess(xray, SPEC)).input.data;
    const distance = (a: Float32Array) =>
      a.reduce((s, v, i) => s + Math.abs(v - (own[i] ?? 0)), 0) / a.length;
    expect(distance(withFilm.input.data)).toBeLessThan(distance(without.input.data));
  });

  it('leaves an ordinary X-ray as it is', async () => {
    const xray = await makeChestLikeJpeg(300, 340, { seed: 6 });
    const a = await preprocess(xray, SPEC);
    const b = await preprocess(xray, { ...SPEC, film: false });
    expect(a.decoded.width).toBe(b.decoded.width);
    expect([a.film, b.film]).toEqual([false, false]);
    expect(Array.from(a.input.data)).toEqual(Array.from(b.input.data));
  });
});
