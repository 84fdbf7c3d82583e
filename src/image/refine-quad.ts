/**
 * Sharpens a found quadrilateral (a film, a screen) onto the straight edges near its sides. The
 * outline search fits each side on a coarse copy, so a side can be a few degrees off; undoing a
 * photo's slant with such a side shears the X-ray (simulated photos: a one-degree error moves the
 * model's answer about as much as the photo's light and glare). Each side is refitted, angle
 * included, to the edge points found across it, by a vote over lines through pairs of them.
 */
import { distance, isConvexClockwise, type Corner, type Quad } from './geometry.js';

/** A grey picture, row-major, values 0..255. */
export interface GreyPlane {
  width: number;
  height: number;
  grey: Float32Array;
}

/** Points sampled along each side, between its ends' REACH_ENDS shares (corners are often hidden). */
const SAMPLES = 48;
const REACH_ENDS = 0.1;
/** How far across its side an edge is looked for: this share of the side's length, and at least 3 px. */
const SEARCH = 0.03;
/** Weakest step across a side (grey levels per pixel) that counts as an edge point. */
const MIN_STEP = 3;
/** Edge points kept per sample (the strongest), so a film's border and the X-ray's both get a vote. */
const PER_SAMPLE = 3;
/** A point within this distance (px) of a line is on it. */
const ON_LINE_PX = 1;
/** Share of the samples that must lie on the refitted line, else the side stays as it was. */
const MIN_SUPPORT = 0.6;

interface EdgePoint {
  sample: number;
  x: number;
  y: number;
  /** Signed step across the side: which side is brighter. A real border keeps its sign. */
  step: number;
}

interface SideLine {
  /** A point on the line and its unit direction. */
  x: number;
  y: number;
  dx: number;
  dy: number;
}

/**
 * `quad` (corners clockwise from top-left, in `image`'s pixels) with each side moved onto the
 * straight edge it runs along, where one is there along most of it; sides without one stay put.
 * The result is the input unchanged when the refitted outline would not be a convex quadrilateral
 * near the old one.
 */
export function refineQuad(image: GreyPlane, quad: Quad): Quad {
  const refits = quad.map((a, i) => refitSide(image, a, quad[(i + 1) % 4] as Corner));
  if (refits.every((line) => line === null)) return quad;
  const lines = refits.map((line, i) => line ?? lineThrough(quad[i] as Corner, quad[(i + 1) % 4] as Corner));
  const corners = lines.map((line, i) => intersect(lines[(i + 3) % 4] as SideLine, line));
  if (corners.some((c) => c === null)) return quad;
  const refined = corners as Quad;
  // Corners may move about as far as a side may: a larger jump is another outline, not this one.
  const limit =
    2 * Math.max(3, SEARCH * Math.max(...quad.map((p, i) => distance(p, quad[(i + 1) % 4] as Corner))));
  if (refined.some((p, i) => distance(p, quad[i] as Corner) > limit) || !isConvexClockwise(refined))
    return quad;
  return refined;
}

/** The side a-z refitted to the edge points across it, or null when too few lie on one line. */
function refitSide(image: GreyPlane, a: Corner, z: Corner): SideLine | null {
  const length = distance(a, z);
  if (length < 16) return null;
  const tx = (z.x - a.x) / length;
  const ty = (z.y - a.y) / length;
  // The normal; its sign does not matter, only that it is the same along the side.
  const nx = -ty;
  const ny = tx;
  const reach = Math.max(3, SEARCH * length);
  const points: EdgePoint[] = [];
  for (let s = 0; s < SAMPLES; s++) {
    const f = REACH_ENDS + ((1 - 2 * REACH_ENDS) * (s + 0.5)) / SAMPLES;
    const px = a.x + f * (z.x - a.x);
    const py = a.y + f * (z.y - a.y);
    points.push(...edgePointsAcross(image, px, py, nx, ny, reach, s));
  }
  // The vote: every pair of points from different samples proposes a line; the line that most
  // samples have a same-signed point on wins.
  let best: { support: number; strength: number; a: EdgePoint; b: EdgePoint } | null = null;
  for (let i = 0; i < points.length; i++) {
    const p = points[i] as EdgePoint;
    for (let j = i + 1; j < points.length; j++) {
      const q = points[j] as EdgePoint;
      if (q.sample - p.sample < SAMPLES / 4 || Math.sign(q.step) !== Math.sign(p.step)) continue;
      const { support, strength } = score(points, lineThrough(p, q), p.step);
      if (best === null || support > best.support || (support === best.support && strength > best.strength))
        best = { support, strength, a: p, b: q };
    }
  }
  if (best === null || best.support < MIN_SUPPORT * SAMPLES) return null;
  return leastSquares(inliers(points, lineThrough(best.a, best.b), best.a.step));
}

/** Up to PER_SAMPLE strongest local maxima of the step across the side, with sub-pixel positions. */
function edgePointsAcross(
  image: GreyPlane,
  px: number,
  py: number,
  nx: number,
  ny: number,
  reach: number,
  sample: number,
): EdgePoint[] {
  const n = Math.ceil(reach * 2);
  const steps: number[] = [];
  for (let k = -n; k <= n; k++) {
    const d = k / 2;
    const x = px + d * nx;
    const y = py + d * ny;
    steps.push((sampleBilinear(image, x + nx, y + ny) - sampleBilinear(image, x - nx, y - ny)) / 2);
  }
  const found: EdgePoint[] = [];
  for (let k = 1; k < steps.length - 1; k++) {
    const here = Math.abs(steps[k] as number);
    if (here < MIN_STEP || here < Math.abs(steps[k - 1] as number) || here < Math.abs(steps[k + 1] as number))
      continue;
    // Parabola through the three magnitudes: the peak between half-pixel samples.
    const l = Math.abs(steps[k - 1] as number);
    const r = Math.abs(steps[k + 1] as number);
    const curvature = l - 2 * here + r;
    const shift = curvature < 0 ? (0.5 * (l - r)) / curvature : 0;
    const d = (k - n + shift) / 2;
    found.push({ sample, x: px + d * nx, y: py + d * ny, step: steps[k] as number });
  }
  return found.sort((p, q) => Math.abs(q.step) - Math.abs(p.step)).slice(0, PER_SAMPLE);
}

/** Samples with a point of the given sign on the line, and those points' summed strength. */
function score(
  points: readonly EdgePoint[],
  line: SideLine,
  sign: number,
): { support: number; strength: number } {
  const hit = new Map<number, number>();
  for (const p of inliers(points, line, sign))
    hit.set(p.sample, Math.max(hit.get(p.sample) ?? 0, Math.abs(p.step)));
  let strength = 0;
  for (const v of hit.values()) strength += v;
  return { support: hit.size, strength };
}

/** The points on the line whose step has the given sign. */
function inliers(points: readonly EdgePoint[], line: SideLine, sign: number): EdgePoint[] {
  return points.filter((p) => Math.sign(p.step) === Math.sign(sign) && offLine(line, p) <= ON_LINE_PX);
}

/** Total least squares: the line through the points' mean along their main direction. */
function leastSquares(points: readonly EdgePoint[]): SideLine {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  for (const p of points) {
    sxx += (p.x - mx) ** 2;
    syy += (p.y - my) ** 2;
    sxy += (p.x - mx) * (p.y - my);
  }
  const angle = 0.5 * Math.atan2(2 * sxy, sxx - syy);
  return { x: mx, y: my, dx: Math.cos(angle), dy: Math.sin(angle) };
}

function lineThrough(a: Corner, z: Corner): SideLine {
  const length = Math.max(1e-9, distance(a, z));
  return { x: a.x, y: a.y, dx: (z.x - a.x) / length, dy: (z.y - a.y) / length };
}

function offLine(line: SideLine, p: Corner): number {
  return Math.abs((p.x - line.x) * line.dy - (p.y - line.y) * line.dx);
}

function intersect(u: SideLine, v: SideLine): Corner | null {
  const det = u.dx * v.dy - u.dy * v.dx;
  if (Math.abs(det) < 1e-6) return null;
  const t = ((v.x - u.x) * v.dy - (v.y - u.y) * v.dx) / det;
  return { x: u.x + t * u.dx, y: u.y + t * u.dy };
}

/**
 * The grey level at (x, y), in pixels (pixel i spans i to i + 1, its centre at i + 0.5): bilinear
 * between the four nearest centres, held at the picture's edge.
 */
export function sampleBilinear(image: GreyPlane, x: number, y: number): number {
  const cx = Math.min(image.width - 1.001, Math.max(0, x - 0.5));
  const cy = Math.min(image.height - 1.001, Math.max(0, y - 0.5));
  const ix = Math.floor(cx);
  const iy = Math.floor(cy);
  const fx = cx - ix;
  const fy = cy - iy;
  const i = iy * image.width + ix;
  const g = image.grey;
  return (
    ((g[i] as number) * (1 - fx) + (g[i + 1] as number) * fx) * (1 - fy) +
    ((g[i + image.width] as number) * (1 - fx) + (g[i + image.width + 1] as number) * fx) * fy
  );
}
