import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { decodeImage } from '../../src/image/decode.js';
import { distance, type Quad } from '../../src/image/geometry.js';
import { refineQuad, type GreyPlane } from '../../src/image/refine-quad.js';

const TRUTH: Quad = [
  { x: 40.3, y: 30.2 },
  { x: 260.7, y: 42.5 },
  { x: 250.2, y: 220.8 },
  { x: 30.6, y: 205.1 },
];

/** A bright slanted film (anti-aliased edges) on a dark, blotchy desk, as a grey plane. */
async function slantedFilm(): Promise<GreyPlane> {
  const desk = await sharp({
    create: {
      width: 300,
      height: 250,
      channels: 3,
      background: '#000',
      noise: { type: 'gaussian', mean: 60, sigma: 30 },
    },
  })
    .blur(4)
    .png()
    .toBuffer();
  const points = TRUTH.map((p) => `${p.x},${p.y}`).join(' ');
  const film = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="300" height="250"><polygon points="${points}" fill="rgb(215,215,215)"/></svg>`,
  );
  const decoded = await decodeImage(
    await sharp(desk)
      .composite([{ input: film }])
      .png()
      .toBuffer(),
  );
  return { width: decoded.width, height: decoded.height, grey: Float32Array.from(decoded.data) };
}

const worst = (a: Quad, b: Quad) => Math.max(...a.map((p, i) => distance(p, b[i] as Quad[number])));

describe('refineQuad', () => {
  it('moves each side, angle included, onto the straight edge it runs along', async () => {
    const image = await slantedFilm();
    // Each corner a few pixels off, as the coarse outline search leaves them: sides 1-2 degrees out.
    const rough: Quad = [
      { x: 43, y: 28 },
      { x: 258, y: 45 },
      { x: 253, y: 218 },
      { x: 28, y: 208 },
    ];
    expect(worst(rough, TRUTH)).toBeGreaterThan(3);
    expect(worst(refineQuad(image, rough), TRUTH)).toBeLessThan(0.8);
  });

  it('leaves a quadrilateral alone where there are no edges to move onto', async () => {
    const plain: GreyPlane = { width: 300, height: 250, grey: new Float32Array(300 * 250).fill(128) };
    expect(refineQuad(plain, TRUTH)).toEqual(TRUTH);
  });

  it('does not jump to an edge farther away than its search reaches', async () => {
    const image = await slantedFilm();
    // The whole outline 25 px inside the film: no edge within reach of any side.
    const inside: Quad = [
      { x: 75, y: 62 },
      { x: 225, y: 72 },
      { x: 218, y: 190 },
      { x: 65, y: 178 },
    ];
    expect(refineQuad(image, inside)).toEqual(inside);
  });
});
