/**
 * Finds the film or screen in a phone photo of an X-ray: the largest roughly rectangular region,
 * clearly smaller than the picture, bounded by straight edges (a light box, a film, a monitor).
 * Returns null when the picture already is the X-ray. Works on a small copy (<= 128 px) of the
 * grey working copy, so it takes a few milliseconds.
 */
import type { DecodedImage } from './decode.js';

export interface FilmBox {
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface Corner {
  x: number;
  y: number;
}

/** What was found, in working-copy pixels, with the evidence (for measurement and overlays). */
export interface FilmDetection {
  /** The largest upright box inside the found quadrilateral: what to crop to. */
  box: FilmBox;
  /** Corners clockwise from top-left. */
  quad: [Corner, Corner, Corner, Corner];
  /** Share of the picture the quadrilateral covers. */
  areaFraction: number;
  /** How many nested regions were followed (light box -> film). */
  depth: number;
}

/** Side of the small copy the search runs on. */
const SEARCH_SIDE = 128;
/** A region must cover at most this share of the picture (else the picture is the X-ray). */
const MAX_AREA = 0.82;
/** ...and at least this much: smaller things are labels, markers, pacemakers. */
const MIN_AREA = 0.12;
/** Region area / quadrilateral area: a rectangle seen at a slant fills its corner quad. */
const FILL_RANGE: readonly [number, number] = [0.9, 1.1];
/** Mean distance (small-copy px) of each side's boundary from a straight line. */
const MAX_SIDE_WOBBLE = 1.1;
/** A nested region (film on a light box) must be this big a share of its parent. */
const MIN_NESTED_SHARE = 0.35;

/** The region to crop to when the picture is a photo of a film or screen, else null. */
export function findFilm(decoded: DecodedImage): FilmBox | null {
  return detectFilm(decoded)?.box ?? null;
}

export function detectFilm(decoded: DecodedImage): FilmDetection | null {
  const small = downscale(decoded, SEARCH_SIDE);
  const outer = findRegion(small, { left: 0, top: 0, width: small.width, height: small.height }, MIN_AREA);
  if (outer === null) return null;
  let found = outer;
  let depth = 1;
  // A light box around a film, or a viewer's black background around the X-ray: look inside once.
  const inner = findRegion(small, innerBox(outer.quad, 1), MIN_NESTED_SHARE);
  if (inner !== null && flatRing(small, outer, inner)) {
    found = inner;
    depth = 2;
  }
  const sx = decoded.width / small.width;
  const sy = decoded.height / small.height;
  const box = innerBox(found.quad, 1);
  const full: FilmBox = {
    left: Math.round(box.left * sx),
    top: Math.round(box.top * sy),
    width: Math.round(box.width * sx),
    height: Math.round(box.height * sy),
  };
  full.width = Math.min(full.width, decoded.width - full.left);
  full.height = Math.min(full.height, decoded.height - full.top);
  return {
    box: full,
    quad: found.quad.map((p) => ({ x: p.x * sx, y: p.y * sy })) as FilmDetection['quad'],
    areaFraction: found.area / (small.width * small.height),
    depth,
  };
}

// ---------------------------------------------------------------------------------------------
// Small copy and edges
// ---------------------------------------------------------------------------------------------

interface Grid {
  width: number;
  height: number;
  /** Grey levels, smoothed. */
  grey: Float32Array;
  /** Gradient magnitude (Sobel). */
  edge: Float32Array;
}

interface Rect {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Area-average to at most `side` px, a 3x3 blur against sensor noise, then Sobel. */
function downscale(image: DecodedImage, side: number): Grid {
  const scale = Math.min(1, side / Math.max(image.width, image.height));
  const width = Math.max(3, Math.round(image.width * scale));
  const height = Math.max(3, Math.round(image.height * scale));
  const sums = new Float32Array(width * height);
  const counts = new Uint32Array(width * height);
  const column = new Uint32Array(image.width);
  for (let x = 0; x < image.width; x++)
    column[x] = Math.min(width - 1, Math.floor((x * width) / image.width));
  for (let y = 0; y < image.height; y++) {
    const row = Math.min(height - 1, Math.floor((y * height) / image.height)) * width;
    const src = y * image.width;
    for (let x = 0; x < image.width; x++) {
      const t = row + (column[x] ?? 0);
      sums[t] = (sums[t] ?? 0) + (image.data[src + x] ?? 0);
      counts[t] = (counts[t] ?? 0) + 1;
    }
  }
  for (let i = 0; i < sums.length; i++) sums[i] = (sums[i] ?? 0) / Math.max(1, counts[i] ?? 1);
  const grey = boxBlur(sums, width, height);
  return { width, height, grey, edge: sobel(grey, width, height) };
}

function boxBlur(src: Float32Array, width: number, height: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let sum = 0;
      let n = 0;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= width) continue;
          sum += src[yy * width + xx] ?? 0;
          n++;
        }
      }
      out[y * width + x] = sum / n;
    }
  }
  return out;
}

function sobel(g: Float32Array, width: number, height: number): Float32Array {
  const out = new Float32Array(g.length);
  const at = (x: number, y: number) =>
    g[Math.min(height - 1, Math.max(0, y)) * width + Math.min(width - 1, Math.max(0, x))] ?? 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const gx =
        at(x + 1, y - 1) +
        2 * at(x + 1, y) +
        at(x + 1, y + 1) -
        at(x - 1, y - 1) -
        2 * at(x - 1, y) -
        at(x - 1, y + 1);
      const gy =
        at(x - 1, y + 1) +
        2 * at(x, y + 1) +
        at(x + 1, y + 1) -
        at(x - 1, y - 1) -
        2 * at(x, y - 1) -
        at(x + 1, y - 1);
      out[y * width + x] = Math.hypot(gx, gy) / 8;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Regions
// ---------------------------------------------------------------------------------------------

interface Region {
  quad: [Corner, Corner, Corner, Corner];
  /** Pixels in the region (holes filled). */
  area: number;
  /** Quadrilateral area. */
  quadArea: number;
  /** Mean grey level inside. */
  mean: number;
}

/**
 * The largest rectangle-like region inside `rect`, found two ways: enclosed by strong edges (a
 * frame, a bezel, a film's border against a light box), or brighter than its surroundings (Otsu).
 * `minShare` is the smallest accepted share of `rect`.
 */
function findRegion(grid: Grid, rect: Rect, minShare: number): Region | null {
  if (rect.width < 8 || rect.height < 8) return null;
  const masks: Uint8Array[] = [];
  const edges = valuesIn(grid.edge, grid.width, rect).sort((a, b) => a - b);
  for (const q of [0.7, 0.8, 0.9]) {
    // The floor keeps flat pictures (no edges at all) from inventing some out of noise.
    const threshold = Math.max(4, quantile(edges, q));
    masks.push(enclosedBy(grid, rect, (i) => (grid.edge[i] ?? 0) > threshold, true));
  }
  const greys = valuesIn(grid.grey, grid.width, rect);
  const otsu = otsuThreshold(greys);
  masks.push(enclosedBy(grid, rect, (i) => (grid.grey[i] ?? 0) > otsu, false));

  let best: Region | null = null;
  for (const mask of masks) {
    const region = describe(grid, rect, largestComponent(mask, rect.width, rect.height));
    if (region === null || !acceptable(region, rect, minShare)) continue;
    if (best === null || region.quadArea > best.quadArea) best = region;
  }
  return best;
}

/**
 * Marks everything that cannot be reached from the border of `rect` without crossing a `wall`
 * pixel: the inside of closed outlines. Edge walls are thickened by one pixel to close small gaps.
 */
function enclosedBy(grid: Grid, rect: Rect, wall: (i: number) => boolean, thicken: boolean): Uint8Array {
  const { width: w, height: h } = rect;
  const blocked = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!wall((rect.top + y) * grid.width + rect.left + x)) continue;
      if (!thicken) {
        blocked[y * w + x] = 1;
        continue;
      }
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          const yy = y + dy;
          if (xx >= 0 && yy >= 0 && xx < w && yy < h) blocked[yy * w + xx] = 1;
        }
      }
    }
  }
  const outside = new Uint8Array(w * h);
  const queue = new Int32Array(w * h);
  let head = 0;
  let tail = 0;
  const push = (i: number) => {
    if (blocked[i] === 1 || outside[i] === 1) return;
    outside[i] = 1;
    queue[tail++] = i;
  };
  for (let x = 0; x < w; x++) {
    push(x);
    push((h - 1) * w + x);
  }
  for (let y = 0; y < h; y++) {
    push(y * w);
    push(y * w + w - 1);
  }
  while (head < tail) {
    const i = queue[head++] ?? 0;
    const x = i % w;
    if (x > 0) push(i - 1);
    if (x < w - 1) push(i + 1);
    if (i >= w) push(i - w);
    if (i < (h - 1) * w) push(i + w);
  }
  const inside = new Uint8Array(w * h);
  for (let i = 0; i < inside.length; i++) inside[i] = outside[i] === 1 ? 0 : 1;
  return inside;
}

/** The largest 4-connected component of `mask`, as a new mask. */
function largestComponent(mask: Uint8Array, w: number, h: number): Uint8Array {
  const label = new Int32Array(w * h);
  const queue = new Int32Array(w * h);
  let bestLabel = 0;
  let bestSize = 0;
  let next = 0;
  for (let start = 0; start < mask.length; start++) {
    if (mask[start] !== 1 || label[start] !== 0) continue;
    next++;
    let head = 0;
    let tail = 0;
    label[start] = next;
    queue[tail++] = start;
    while (head < tail) {
      const i = queue[head++] ?? 0;
      const x = i % w;
      for (const j of [x > 0 ? i - 1 : -1, x < w - 1 ? i + 1 : -1, i - w, i + w]) {
        if (j < 0 || j >= mask.length || mask[j] !== 1 || label[j] !== 0) continue;
        label[j] = next;
        queue[tail++] = j;
      }
    }
    if (tail > bestSize) {
      bestSize = tail;
      bestLabel = next;
    }
  }
  const out = new Uint8Array(w * h);
  if (bestLabel === 0) return out;
  for (let i = 0; i < out.length; i++) out[i] = label[i] === bestLabel ? 1 : 0;
  return out;
}

/**
 * Corners (extremes along the diagonals), areas, and how straight each side is. Null when the
 * region is empty or a side wobbles like a body outline rather than a film's edge.
 */
function describe(grid: Grid, rect: Rect, mask: Uint8Array): Region | null {
  const { width: w, height: h } = rect;
  let area = 0;
  let sum = 0;
  const top = new Int32Array(w).fill(-1);
  const bottom = new Int32Array(w).fill(-1);
  const left = new Int32Array(h).fill(-1);
  const right = new Int32Array(h).fill(-1);
  let tl = { x: 0, y: 0, v: Infinity };
  let br = { x: 0, y: 0, v: -Infinity };
  let tr = { x: 0, y: 0, v: -Infinity };
  let bl = { x: 0, y: 0, v: -Infinity };
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (mask[y * w + x] !== 1) continue;
      area++;
      sum += grid.grey[(rect.top + y) * grid.width + rect.left + x] ?? 0;
      if (top[x] === -1) top[x] = y;
      bottom[x] = y;
      if (left[y] === -1) left[y] = x;
      right[y] = x;
      if (x + y < tl.v) tl = { x, y, v: x + y };
      if (x + y > br.v) br = { x, y, v: x + y };
      if (x - y > tr.v) tr = { x, y, v: x - y };
      if (y - x > bl.v) bl = { x, y, v: y - x };
    }
  }
  if (area === 0) return null;
  // Pixel corners: the region's outer corners, not its corner pixels' centres.
  const quad: Region['quad'] = [
    { x: tl.x, y: tl.y },
    { x: tr.x + 1, y: tr.y },
    { x: br.x + 1, y: br.y + 1 },
    { x: bl.x, y: bl.y + 1 },
  ];
  const sides = [
    wobble(top, quad[0], quad[1], 'x'),
    wobble(bottom, quad[3], quad[2], 'x', 1),
    wobble(left, quad[0], quad[3], 'y'),
    wobble(right, quad[1], quad[2], 'y', 1),
  ];
  if (sides.some((s) => s > MAX_SIDE_WOBBLE)) return null;
  return {
    quad: quad.map((p) => ({ x: p.x + rect.left, y: p.y + rect.top })) as Region['quad'],
    area,
    quadArea: polygonArea(quad),
    mean: sum / area,
  };
}

/**
 * Mean distance between a side's boundary (first/last region pixel per column or row, from
 * `extent`) and the straight line between its corners, over the middle 80% of the side.
 */
function wobble(extent: Int32Array, a: Corner, b: Corner, along: 'x' | 'y', offset = 0): number {
  const from = along === 'x' ? a.x : a.y;
  const to = along === 'x' ? b.x : b.y;
  const span = to - from;
  if (span < 4) return Infinity;
  let total = 0;
  let n = 0;
  for (let t = Math.ceil(from + 0.1 * span); t <= Math.floor(to - 0.1 * span); t++) {
    const e = extent[t];
    if (e === undefined || e < 0) return Infinity;
    const f = (t + 0.5 - from) / span;
    const line = along === 'x' ? a.y + f * (b.y - a.y) : a.x + f * (b.x - a.x);
    total += Math.abs(e + offset - line);
    n++;
  }
  return n === 0 ? Infinity : total / n;
}

function acceptable(region: Region, rect: Rect, minShare: number): boolean {
  const share = region.quadArea / (rect.width * rect.height);
  if (share < minShare || share > MAX_AREA) return false;
  const fill = region.area / region.quadArea;
  if (fill < FILL_RANGE[0] || fill > FILL_RANGE[1]) return false;
  // Clearly inside the picture: at least two sides keep a margin (a film may run off one edge).
  const [tl, tr, br, bl] = region.quad;
  const margin = 0.025;
  const sidesWithMargin = [
    Math.min(tl.y, tr.y) - rect.top > margin * rect.height,
    rect.top + rect.height - Math.max(bl.y, br.y) > margin * rect.height,
    Math.min(tl.x, bl.x) - rect.left > margin * rect.width,
    rect.left + rect.width - Math.max(tr.x, br.x) > margin * rect.width,
  ].filter(Boolean).length;
  return sidesWithMargin >= 2;
}

/**
 * A nested region counts only when what lies between it and its parent is plain: the glowing
 * panel of a light box or the black of a viewer, not anatomy.
 */
function flatRing(grid: Grid, outer: Region, inner: Region): boolean {
  const o = innerBox(outer.quad, 1);
  const i = innerBox(inner.quad, -1);
  let ring = 0;
  let n = 0;
  let inside = 0;
  let m = 0;
  for (let y = o.top; y < o.top + o.height; y++) {
    for (let x = o.left; x < o.left + o.width; x++) {
      const e = grid.edge[y * grid.width + x] ?? 0;
      const within = x >= i.left && x < i.left + i.width && y >= i.top && y < i.top + i.height;
      if (within) {
        inside += e;
        m++;
      } else {
        ring += e;
        n++;
      }
    }
  }
  return n > 0 && m > 0 && ring / n < 0.5 * (inside / m);
}

/** The largest upright box inside a quadrilateral (clockwise from top-left), shrunk by `inset`. */
function innerBox(quad: readonly Corner[], inset: number): Rect {
  const [tl, tr, br, bl] = quad as [Corner, Corner, Corner, Corner];
  const left = Math.ceil(Math.max(tl.x, bl.x)) + inset;
  const right = Math.floor(Math.min(tr.x, br.x)) - inset;
  const top = Math.ceil(Math.max(tl.y, tr.y)) + inset;
  const bottom = Math.floor(Math.min(bl.y, br.y)) - inset;
  return { left, top, width: Math.max(0, right - left), height: Math.max(0, bottom - top) };
}

function polygonArea(points: readonly Corner[]): number {
  let twice = 0;
  for (let i = 0; i < points.length; i++) {
    const a = points[i] ?? { x: 0, y: 0 };
    const b = points[(i + 1) % points.length] ?? { x: 0, y: 0 };
    twice += a.x * b.y - b.x * a.y;
  }
  return Math.abs(twice) / 2;
}

function valuesIn(values: Float32Array, stride: number, rect: Rect): number[] {
  const out: number[] = [];
  for (let y = rect.top; y < rect.top + rect.height; y++) {
    for (let x = rect.left; x < rect.left + rect.width; x++) out.push(values[y * stride + x] ?? 0);
  }
  return out;
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

/** Otsu's threshold over 0..255 grey levels. */
function otsuThreshold(values: readonly number[]): number {
  const histogram = new Float64Array(256);
  for (const v of values) {
    const bin = Math.max(0, Math.min(255, Math.round(v)));
    histogram[bin] = (histogram[bin] ?? 0) + 1;
  }
  const total = values.length;
  let sumAll = 0;
  for (let i = 0; i < 256; i++) sumAll += i * (histogram[i] ?? 0);
  let weightBelow = 0;
  let sumBelow = 0;
  let best = 0;
  let threshold = 127;
  for (let t = 0; t < 256; t++) {
    weightBelow += histogram[t] ?? 0;
    if (weightBelow === 0) continue;
    const weightAbove = total - weightBelow;
    if (weightAbove === 0) break;
    sumBelow += t * (histogram[t] ?? 0);
    const meanBelow = sumBelow / weightBelow;
    const meanAbove = (sumAll - sumBelow) / weightAbove;
    const between = weightBelow * weightAbove * (meanBelow - meanAbove) ** 2;
    if (between > best) {
      best = between;
      threshold = t;
    }
  }
  return threshold;
}
