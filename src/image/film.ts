/**
 * Finds the film or screen in a phone photo of an X-ray: the largest roughly rectangular region,
 * clearly smaller than the picture, bounded by straight edges (a light box, a film, a monitor),
 * and inside it the X-ray itself when it sits on a plain panel, bezel or viewer background.
 * Returns null when the picture already is the X-ray. Pure, and fast: it works on small copies
 * (<= 256 px) of the grey working copy.
 */
import { colourfulnessIn, type DecodedImage } from './decode.js';
import { distance, isConvexClockwise, type Corner, type Quad } from './geometry.js';
import { refineQuad, sampleBilinear, type GreyPlane } from './refine-quad.js';

export interface FilmBox {
  left: number;
  top: number;
  width: number;
  height: number;
}

export type { Corner, Quad } from './geometry.js';

/** What was found, in working-copy pixels. */
export interface FilmDetection {
  /** The largest upright box inside the found quadrilateral: what to crop to. */
  box: FilmBox;
  /** The found outline, corners clockwise from top-left. */
  quad: Quad;
  /** Share of the picture inside the outline. */
  areaFraction: number;
  /** 1: the outermost outline; 2+: outlines followed inwards (light box -> film). */
  depth: number;
}

export interface DetectFilmOptions {
  /** Receives a line per decision, for tuning. */
  trace?: (line: string) => void;
}

/** Side of the copy the outer outline is searched on (coarse: flood fills and line fits). */
const COARSE_SIDE = 128;
/** Side of the copy the nested outlines are searched on (light box margins are a few % wide). */
const FINE_SIDE = 256;
/** Weakest edge (grey levels per pixel, Sobel / 8) that counts as an edge: below is sensor noise. */
const EDGE_FLOOR = 4;

interface SizeRule {
  /** Smallest and largest share of the picture the outline may enclose. */
  minShare: number;
  maxShare: number;
  /** Margin (share of the picture's side) that MIN_SIDES_WITH_MARGIN sides keep from its border. */
  margin: number;
}

/**
 * Clearly smaller than the picture (else the picture is the X-ray), but not tiny (labels,
 * markers, pacemakers).
 */
const OUTER: SizeRule = { minShare: 0.2, maxShare: 0.82, margin: 0.01 };
/**
 * Width / height of the outline (mean side lengths). Chest films and screens are 0.8-1.5, a
 * little more or less at a slant; a lung field, which can look like a dark quadrilateral, is
 * narrower.
 */
const ASPECT_RANGE: readonly [number, number] = [0.6, 1.8];
/**
 * Sides that must keep OUTER.margin from the picture's border. In a grey picture, all four: in
 * real X-rays, regions running off an edge are the body or a bright band. In a picture with
 * colour (see MIN_COLOUR_FOR_PHOTO), three: a monitor or a light box photographed close reaches
 * the photo's border on one side; the film inside it is then found as the nested outline. On 200
 * simulated photos of validation X-rays (shipped model), mean change in probability 0.066 ->
 * 0.060, and the film found in 581 of 594 (was 572); on the 579 test photos the mean stays 0.066
 * and 534 pass the gate (was 528). No X-ray of any split has that much colour, so none more is
 * cropped (3 of 594 validation X-rays either way; with three sides for grey pictures too, 7).
 * Preferring an outline with four sides clear over a larger one: 0.063.
 */
const MIN_SIDES_WITH_MARGIN = { grey: 4, photo: 3 };
/**
 * Share of the picture an outline with a side at its border must enclose: an object photographed
 * close enough to run off the photo fills at least half of it. Smaller ones are a bright object
 * cut by the border (in the negatives, a knee implant filling a photo of a monitor, which the gate
 * then let through as a chest X-ray). On the validation photos, 0.25 to 0.5 change nothing, 0.6
 * undoes the gain.
 */
const MIN_SHARE_AT_BORDER = 0.5;
/**
 * Grey-level spread (standard deviation, fine copy) below which what surrounds the outline is a
 * digital border (a scanned film padded with black), not a room: photos have light gradients,
 * texture and noise.
 */
const MIN_SURROUNDINGS_SPREAD = 1.5;
/** Share of the region an outline must fill (a film has no bites taken out of it). */
const MIN_FILL = 0.9;
/** Steepest side accepted (about 14 degrees): beyond a hand-held photo's usual slant. */
const MAX_SLOPE = 0.25;
const SLOPE_STEPS = 20;
/** Outline points within this distance (coarse px) of a side's line are on it. */
const INLIER_PX = 1.5;
/**
 * Each side's line must be followed by the outline (or an edge) along this share of it. A stand or
 * an object touching a screen covers a little of a side; a side that falls short of this makes the
 * outline one with a hidden side, which loses to any outline with all four (often one inside the
 * X-ray). Chosen on 200 simulated photos of validation X-rays (shipped model, mean change in
 * probability): 0.8 / 0.75 / 0.7 / 0.65 give 0.071 / 0.066 / 0.064 / 0.065; below 0.75 a grey
 * picture with a third of a side covered counts as a film too (see MIN_COLOUR_FOR_PHOTO).
 */
const MIN_SIDE_SUPPORT = 0.75;
/**
 * Except one side, which needs only this share: something lying across a film's edge (a card, a
 * hand, a sheet on the light box) hides part of it. An outline with all four sides is preferred.
 */
const MIN_HIDDEN_SIDE_SUPPORT = 0.55;
/**
 * Colourfulness (see DecodedImage) a picture needs to be taken for a photo, where the outline may
 * have a side partly hidden or at the picture's border: a phone photo has a room around the film,
 * with colour in it (simulated photos: 0.013 and up; no X-ray of the data set reaches it). A grey
 * picture is a scan or an export, where such an outline is an X-ray's own border or padding cut
 * by anatomy (a hidden side allowed in grey pictures doubled the training X-rays cropped, 9 -> 20
 * of 2,680).
 */
const MIN_COLOUR_FOR_PHOTO = 0.01;

/** Levels followed inwards (frame -> light box panel -> film; bezel -> screen -> X-ray). */
const MAX_NESTING = 3;
/** A nested outline encloses this share of its parent. */
const NESTED = { minShare: 0.35, maxShare: 0.97 };
/** Nested edge lines: gradient this many times the interior's median, and at least this much. */
const NESTED_EDGE_FACTOR = 4;
const NESTED_EDGE_FLOOR = 8;
/** Share of a line's middle part that must be edge for the line to be an edge. */
const LINE_SUPPORT = 0.7;
/** How far (share of the side) an outer side may move to snap onto its edge. */
const SNAP_REACH = 0.06;
/** How far in (share of the side) a nested outline may lie. */
const MAX_INSET = 0.3;
/**
 * Mean gradient between the outlines must stay below this share of the one inside the inner one.
 * A viewer's margin or a film's rim under glare and moiré reaches 0.5-0.65 of an X-ray's detail;
 * anatomy between the outlines, about as much as inside (at 0.8, a few boxes on test photos got worse).
 */
const PLAIN_RING = 0.65;

export function detectFilm(decoded: DecodedImage, options: DetectFilmOptions = {}): FilmDetection | null {
  const trace = options.trace;
  const fine = areaAverage(decoded.data, decoded.width, decoded.height, FINE_SIDE);
  const coarse = withEdges(areaAverage(fine.grey, fine.width, fine.height, COARSE_SIDE));
  const outer = findOutline(coarse, decoded.colourfulness >= MIN_COLOUR_FOR_PHOTO, trace);
  if (outer === null) return null;
  const toFineX = fine.width / coarse.width;
  const toFineY = fine.height / coarse.height;
  let quad = snapToEdges(fine, outer.map((p) => ({ x: p.x * toFineX, y: p.y * toFineY })) as Quad);
  const spread = surroundingsSpread(fine, quad);
  trace?.(`surroundings spread ${spread.toFixed(2)}`);
  if (spread < MIN_SURROUNDINGS_SPREAD) return null;
  let depth = 1;
  for (let level = 0; level < MAX_NESTING; level++) {
    const inner = findInner(fine, quad, trace);
    if (inner === null) break;
    quad = inner;
    depth++;
  }
  quad = refineQuad(fine, quad);
  // One pixel in from the outline, which lies on the edge.
  const box = innerBox(quad, 1);
  if (box.width < 8 || box.height < 8) return null;
  const sx = decoded.width / fine.width;
  const sy = decoded.height / fine.height;
  const left = Math.max(0, Math.round(box.left * sx));
  const top = Math.max(0, Math.round(box.top * sy));
  return {
    box: {
      left,
      top,
      width: Math.min(decoded.width - left, Math.round(box.width * sx)),
      height: Math.min(decoded.height - top, Math.round(box.height * sy)),
    },
    quad: quad.map((p) => ({ x: p.x * sx, y: p.y * sy })) as Quad,
    areaFraction: polygonArea(quad) / (fine.width * fine.height),
    depth,
  };
}

/**
 * The film or screen cut out of a phone photo of one: undistorted (`rectifyFilm`), then with the
 * plain strips still around the X-ray trimmed (`trimPlainBorders`). Null when the picture already
 * is the X-ray. Undistorting rather than cropping to the upright box inside the outline keeps the
 * X-ray's proportions whatever the slant, and every strip of panel, bezel or viewer background left
 * moves the lung box (100 simulated photos with only a slant, shipped model: undistorted from
 * corners 3% too far out, the answer changes by 0.043 on average; from the exact corners, 0.019).
 */
export function cutOutFilm(decoded: DecodedImage): DecodedImage | null {
  const found = detectFilm(decoded);
  return found === null ? null : trimPlainBorders(rectifyFilm(decoded, found.quad));
}

/**
 * The film undistorted: the quadrilateral `quad` (working-copy pixels, clockwise from top-left)
 * mapped projectively onto an upright rectangle of its mean side lengths, with bilinear sampling.
 * Unlike cropping to the upright box inside the quadrilateral, it keeps the film's corners and
 * undoes the slant. Its colourfulness is the film's (the box inside the quadrilateral).
 */
export function rectifyFilm(image: DecodedImage, quad: Quad): DecodedImage {
  const [tl, tr, br, bl] = quad;
  const width = Math.max(1, Math.round((distance(tl, tr) + distance(bl, br)) / 2));
  const height = Math.max(1, Math.round((distance(tl, bl) + distance(tr, br)) / 2));
  const flat = rectify(
    { width: image.width, height: image.height, grey: Float32Array.from(image.data) },
    homography(rectCorners(width, height), quad),
    width,
    height,
  );
  const data = new Uint8Array(flat.length);
  for (let i = 0; i < flat.length; i++) data[i] = Math.round(flat[i] as number);
  const inside = innerBox(quad);
  const colourfulness =
    inside.width > 0 && inside.height > 0 ? colourfulnessIn(image, inside) : image.colourfulness;
  // The colour cells describe the whole picture's grid, not the undistorted film.
  const { colourCells: _cells, ...rest } = image;
  return { ...rest, data, width, height, colourfulness };
}

/**
 * A line (row or column) is plain when the spread of its grey levels, over its middle 80%, is below
 * this share of the whole picture's: a light box's panel, a viewer's black background, a bezel.
 * An X-ray's rows have anatomy in them. Chosen on 200 simulated photos of validation X-rays (shipped
 * model, mean change in probability): 0.1 / 0.15 / 0.25 / 0.35 / 0.5 give 0.079 / 0.076 / 0.071 /
 * 0.076 / 0.097; above 0.25 the trim starts to cut into the X-ray.
 */
const PLAIN_LINE_SPREAD = 0.25;
/** At most this share of the picture is trimmed from each side. */
const MAX_TRIM = 0.2;

/**
 * `image` with plain rows and columns trimmed off its edges (see PLAIN_LINE_SPREAD): what an
 * undistorted film still has around the X-ray when its outline was a panel's or a screen's.
 */
export function trimPlainBorders(image: DecodedImage): DecodedImage {
  const { width: w, height: h, data } = image;
  let sum = 0;
  let squares = 0;
  for (const v of data) {
    sum += v;
    squares += v * v;
  }
  const threshold =
    PLAIN_LINE_SPREAD * Math.sqrt(Math.max(0, squares / data.length - (sum / data.length) ** 2));
  const spread = (at: (k: number) => number, n: number) => {
    let s = 0;
    let q = 0;
    let count = 0;
    for (let k = Math.floor(n * 0.1); k < n * 0.9; k++) {
      const v = at(k);
      s += v;
      q += v * v;
      count++;
    }
    return count === 0 ? 0 : Math.sqrt(Math.max(0, q / count - (s / count) ** 2));
  };
  const plainRow = (y: number) => spread((x) => data[y * w + x] as number, w) < threshold;
  const plainColumn = (x: number) => spread((y) => data[y * w + x] as number, h) < threshold;
  let top = 0;
  let bottom = h;
  let left = 0;
  let right = w;
  while (top < h * MAX_TRIM && plainRow(top)) top++;
  while (bottom > h * (1 - MAX_TRIM) && plainRow(bottom - 1)) bottom--;
  while (left < w * MAX_TRIM && plainColumn(left)) left++;
  while (right > w * (1 - MAX_TRIM) && plainColumn(right - 1)) right--;
  if (top === 0 && left === 0 && bottom === h && right === w) return image;
  return cropDecoded(image, { left, top, width: right - left, height: bottom - top });
}

/** Standard deviation of the grey levels outside `quad` (grown by 3% so its edge is left out). */
function surroundingsSpread(image: Grey, quad: Quad): number {
  const cx = (quad[0].x + quad[1].x + quad[2].x + quad[3].x) / 4;
  const cy = (quad[0].y + quad[1].y + quad[2].y + quad[3].y) / 4;
  const grown = quad.map((p) => ({ x: cx + (p.x - cx) * 1.03, y: cy + (p.y - cy) * 1.03 })) as Quad;
  let n = 0;
  let sum = 0;
  let squares = 0;
  // Every second pixel of every second row is plenty for a spread.
  for (let y = 0; y < image.height; y += 2) {
    for (let x = 0; x < image.width; x += 2) {
      if (insideQuad(grown, x + 0.5, y + 0.5)) continue;
      const g = image.grey[y * image.width + x] as number;
      n++;
      sum += g;
      squares += g * g;
    }
  }
  if (n === 0) return 0;
  const mean = sum / n;
  return Math.sqrt(Math.max(0, squares / n - mean * mean));
}

/** A copy of `image` cut to `box` (e.g. to the film), for `toModelInput`. */
export function cropDecoded(image: DecodedImage, box: FilmBox): DecodedImage {
  const data = new Uint8Array(box.width * box.height);
  for (let y = 0; y < box.height; y++) {
    const from = (box.top + y) * image.width + box.left;
    data.set(image.data.subarray(from, from + box.width), y * box.width);
  }
  // The colour check then judges the film, not the room around it. (The cut image keeps no cells.)
  const { colourCells: _cells, ...rest } = image;
  return { ...rest, data, width: box.width, height: box.height, colourfulness: colourfulnessIn(image, box) };
}

// ---------------------------------------------------------------------------------------------
// Small copies
// ---------------------------------------------------------------------------------------------

type Grey = GreyPlane;

interface Grid extends Grey {
  /** Gradient magnitude (Sobel / 8) of the smoothed grey levels. */
  edge: Float32Array;
}

interface Rect {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * Average down to at most `side` px (never up). Large reductions read every second pixel of every
 * second row: a quarter of the work, and still far more samples than the edges need.
 */
function areaAverage(data: Uint8Array | Float32Array, width: number, height: number, side: number): Grey {
  const scale = Math.min(1, side / Math.max(width, height));
  const w = Math.max(3, Math.round(width * scale));
  const h = Math.max(3, Math.round(height * scale));
  const stride = scale <= 0.25 ? 2 : 1;
  // Source columns [colStart[t], colStart[t + 1]) fall into target column t; rows likewise.
  const colStart = new Int32Array(w + 1);
  for (let t = 0; t <= w; t++) colStart[t] = Math.floor((t * width) / w);
  const out = new Float32Array(w * h);
  for (let ty = 0; ty < h; ty++) {
    const y0 = Math.floor((ty * height) / h);
    const y1 = Math.floor(((ty + 1) * height) / h);
    for (let tx = 0; tx < w; tx++) {
      const x0 = colStart[tx] as number;
      const x1 = colStart[tx + 1] as number;
      let sum = 0;
      let n = 0;
      for (let y = y0; y < y1; y += stride) {
        const row = y * width;
        for (let x = x0; x < x1; x += stride) sum += data[row + x] as number;
        n += Math.ceil((x1 - x0) / stride);
      }
      out[ty * w + tx] = n === 0 ? 0 : sum / n;
    }
  }
  return { width: w, height: h, grey: out };
}

/** A 3x3 blur against sensor noise and JPEG blocks, then Sobel. */
function withEdges(image: Grey): Grid {
  const { width, height } = image;
  // Separable 3x3 box blur (edges replicated).
  const src = image.grey;
  const across = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const r = y * width;
    for (let x = 0; x < width; x++) {
      const l = x > 0 ? x - 1 : x;
      const rr = x < width - 1 ? x + 1 : x;
      across[r + x] = ((src[r + l] as number) + (src[r + x] as number) + (src[r + rr] as number)) / 3;
    }
  }
  const grey = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const up = (y > 0 ? y - 1 : y) * width;
    const down = (y < height - 1 ? y + 1 : y) * width;
    const r = y * width;
    for (let x = 0; x < width; x++) {
      grey[r + x] =
        ((across[up + x] as number) + (across[r + x] as number) + (across[down + x] as number)) / 3;
    }
  }
  const edge = new Float32Array(width * height);
  const at = (x: number, y: number) =>
    grey[Math.min(height - 1, Math.max(0, y)) * width + Math.min(width - 1, Math.max(0, x))] ?? 0;
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
      edge[y * width + x] = Math.hypot(gx, gy) / 8;
    }
  }
  return { width, height, grey, edge };
}

// ---------------------------------------------------------------------------------------------
// The outer outline (coarse copy)
// ---------------------------------------------------------------------------------------------

/**
 * The largest rectangle-like region of the picture, found two ways: enclosed by strong edges (a
 * frame, a bezel, a film's border), at three edge thresholds, or brighter than its surroundings
 * (Otsu). Each candidate must pass the shape and size checks; the largest with all four sides
 * wins, else (in a photo) the largest with one side partly hidden.
 */
function findOutline(grid: Grid, photo: boolean, trace?: (line: string) => void): Quad | null {
  const edges = Float32Array.from(grid.edge).sort();
  // The floor keeps flat pictures (no edges at all) from inventing some out of noise.
  const thresholdAt = (q: number) => Math.max(EDGE_FLOOR, quantile(edges, q));
  const candidates: { mask: Uint8Array; threshold: number }[] = [];
  for (const q of [0.7, 0.8, 0.9]) {
    const threshold = thresholdAt(q);
    candidates.push({ mask: enclosedBy(grid, (i) => (grid.edge[i] ?? 0) > threshold, true), threshold });
  }
  const otsu = otsuThreshold(grid.grey);
  candidates.push({
    mask: enclosedBy(grid, (i) => (grid.grey[i] ?? 0) > otsu, false),
    threshold: thresholdAt(0.8),
  });

  let best: Region | null = null;
  for (const { mask, threshold } of candidates) {
    const component = largestComponent(mask, grid.width, grid.height);
    const region = describe(grid, component, threshold, photo, trace);
    if (region === null || !acceptable(region, grid, photo, trace)) continue;
    // An outline with all four sides beats a larger one with a side partly hidden.
    const better =
      best === null ||
      (region.allSides && !best.allSides) ||
      (region.allSides === best.allSides && region.quadArea > best.quadArea);
    if (better) best = region;
  }
  return best?.quad ?? null;
}

/**
 * Marks everything that cannot be reached from the picture's border without crossing a `wall`
 * pixel: the inside of closed outlines. Edge walls are thickened by a pixel to close small gaps.
 */
function enclosedBy(grid: Grid, wall: (i: number) => boolean, thicken: boolean): Uint8Array {
  const { width: w, height: h } = grid;
  const blocked = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!wall(y * w + x)) continue;
      const r = thicken ? 1 : 0;
      for (let yy = Math.max(0, y - r); yy <= Math.min(h - 1, y + r); yy++) {
        for (let xx = Math.max(0, x - r); xx <= Math.min(w - 1, x + r); xx++) blocked[yy * w + xx] = 1;
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
  for (let i = 0; i < outside.length; i++) outside[i] = outside[i] === 1 ? 0 : 1;
  return outside;
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
      // Neighbours left, right, up, down (-1 where there is none); no closures in this hot loop.
      for (let n = 0; n < 4; n++) {
        const j =
          n === 0 ? (x > 0 ? i - 1 : -1) : n === 1 ? (x < w - 1 ? i + 1 : -1) : n === 2 ? i - w : i + w;
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

/** A straight side: top/bottom `y = slope * x + offset`, left/right `x = slope * y + offset`. */
interface Line {
  slope: number;
  offset: number;
}

interface Region {
  quad: Quad;
  /** Every side followed along MIN_SIDE_SUPPORT of it (else one only along MIN_HIDDEN_SIDE_SUPPORT). */
  allSides: boolean;
  /** Region pixels inside the quadrilateral. */
  area: number;
  quadArea: number;
}

/**
 * Fits a straight line to each side of the region's outline (robustly: a film's border is straight
 * even where clutter touches it), intersects them into corners, and checks that each side is
 * really there: followed by the outline or by a strong edge along most of its length. A body's
 * rounded outline fails this. With `allowHiddenSide`, one side may be followed along less (down
 * to MIN_HIDDEN_SIDE_SUPPORT); without it, such an outline is dropped before its area is counted.
 */
function describe(
  grid: Grid,
  mask: Uint8Array,
  edgeThreshold: number,
  allowHiddenSide: boolean,
  trace?: (line: string) => void,
): Region | null {
  const { width: w, height: h } = grid;
  const top = new Float32Array(w).fill(Number.NaN);
  const bottom = new Float32Array(w).fill(Number.NaN);
  const left = new Float32Array(h).fill(Number.NaN);
  const right = new Float32Array(h).fill(Number.NaN);
  let pixels = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (mask[y * w + x] !== 1) continue;
      pixels++;
      if (Number.isNaN(top[x] ?? 0)) top[x] = y;
      bottom[x] = y + 1;
      if (Number.isNaN(left[y] ?? 0)) left[y] = x;
      right[y] = x + 1;
    }
  }
  if (pixels < 16) return null;
  const t = fitSide(top);
  const r = fitSide(right);
  const b = fitSide(bottom);
  const l = fitSide(left);
  if (t === null || r === null || b === null || l === null) return null;
  const quad: Quad = [corner(t, l), corner(t, r), corner(b, r), corner(b, l)];
  const quadArea = polygonArea(quad);
  if (!(quadArea > 16) || !isConvexClockwise(quad)) return null;
  const onEdge = (a: Corner, z: Corner) => edgeSupport(grid, a, z, edgeThreshold);
  const supports = [
    Math.max(outlineSupport(top, t, quad[0].x, quad[1].x), onEdge(quad[0], quad[1])),
    Math.max(outlineSupport(right, r, quad[1].y, quad[2].y), onEdge(quad[1], quad[2])),
    Math.max(outlineSupport(bottom, b, quad[3].x, quad[2].x), onEdge(quad[3], quad[2])),
    Math.max(outlineSupport(left, l, quad[0].y, quad[3].y), onEdge(quad[0], quad[3])),
  ];
  trace?.(`outline ${formatQuad(quad)} side support ${supports.map((s) => s.toFixed(2)).join(' ')}`);
  const weak = supports.filter((s) => s < MIN_SIDE_SUPPORT);
  if (weak.length > (allowHiddenSide ? 1 : 0) || weak.some((s) => s < MIN_HIDDEN_SIDE_SUPPORT)) return null;
  let area = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (mask[y * w + x] === 1 && insideQuad(quad, x + 0.5, y + 0.5)) area++;
    }
  }
  return { quad, allSides: weak.length === 0, area, quadArea };
}

/**
 * The line through most outline points `(i + 0.5, extent[i])`: a vote over slopes within
 * MAX_SLOPE (a one-dimensional Hough transform), then least squares on the points near it.
 */
function fitSide(extent: Float32Array): Line | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const e of extent) {
    if (Number.isNaN(e)) continue;
    lo = Math.min(lo, e);
    hi = Math.max(hi, e);
  }
  if (!Number.isFinite(lo)) return null;
  const reach = MAX_SLOPE * extent.length;
  const base = Math.floor(lo - reach) - 1;
  const votes = new Int32Array(Math.ceil(hi + reach) - base + 2);
  let best: Line = { slope: 0, offset: 0 };
  let bestVotes = 0;
  for (let k = -SLOPE_STEPS; k <= SLOPE_STEPS; k++) {
    const slope = (k / SLOPE_STEPS) * MAX_SLOPE;
    votes.fill(0);
    for (let i = 0; i < extent.length; i++) {
      const e = extent[i] ?? Number.NaN;
      if (Number.isNaN(e)) continue;
      const bin = Math.round(e - slope * (i + 0.5)) - base;
      votes[bin] = (votes[bin] ?? 0) + 1;
    }
    for (let bin = 1; bin < votes.length - 1; bin++) {
      const v = (votes[bin - 1] ?? 0) + (votes[bin] ?? 0) + (votes[bin + 1] ?? 0);
      if (v > bestVotes) {
        bestVotes = v;
        best = { slope, offset: bin + base };
      }
    }
  }
  if (bestVotes < 4) return null;
  let n = 0;
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < extent.length; i++) {
    const e = extent[i] ?? Number.NaN;
    const x = i + 0.5;
    if (Number.isNaN(e) || Math.abs(e - (best.slope * x + best.offset)) > INLIER_PX) continue;
    n++;
    sx += x;
    sy += e;
    sxx += x * x;
    sxy += x * e;
  }
  const denominator = n * sxx - sx * sx;
  if (n < 4 || denominator === 0) return best;
  const slope = (n * sxy - sx * sy) / denominator;
  return Math.abs(slope) > MAX_SLOPE * 1.5 ? best : { slope, offset: (sy - slope * sx) / n };
}

/** Where a horizontal-ish side (`y = a x + b`) meets a vertical-ish one (`x = c y + d`). */
function corner(horizontal: Line, vertical: Line): Corner {
  const x = (vertical.slope * horizontal.offset + vertical.offset) / (1 - vertical.slope * horizontal.slope);
  return { x, y: horizontal.slope * x + horizontal.offset };
}

/** Share of the side between `from` and `to` along which the outline lies on the fitted line. */
function outlineSupport(extent: Float32Array, line: Line, from: number, to: number): number {
  const start = Math.max(0, Math.ceil(from));
  const end = Math.min(extent.length, Math.floor(to));
  if (end - start < 4) return 0;
  let hits = 0;
  for (let i = start; i < end; i++) {
    const e = extent[i] ?? Number.NaN;
    if (!Number.isNaN(e) && Math.abs(e - (line.slope * (i + 0.5) + line.offset)) <= INLIER_PX) hits++;
  }
  return hits / (end - start);
}

/**
 * Share of the segment a-z along which the edge strength, at the point or up to two pixels either
 * side (outlines of thickened edge masks lie a little outside the edge), exceeds `threshold`.
 */
const NEAR_LINE = [0, -1, 1, -2, 2];

function edgeSupport(grid: Grid, a: Corner, z: Corner, threshold: number): number {
  const length = distance(a, z);
  const steps = Math.floor(length);
  if (steps < 4) return 0;
  const nx = -(z.y - a.y) / length;
  const ny = (z.x - a.x) / length;
  let hits = 0;
  for (let k = 0; k < steps; k++) {
    const f = (k + 0.5) / steps;
    const px = a.x + f * (z.x - a.x);
    const py = a.y + f * (z.y - a.y);
    for (const d of NEAR_LINE) {
      const x = Math.floor(px + d * nx);
      const y = Math.floor(py + d * ny);
      if (x < 0 || y < 0 || x >= grid.width || y >= grid.height) continue;
      if ((grid.edge[y * grid.width + x] ?? 0) > threshold) {
        hits++;
        break;
      }
    }
  }
  return hits / steps;
}

function acceptable(region: Region, grid: Grid, photo: boolean, trace?: (line: string) => void): boolean {
  const share = region.quadArea / (grid.width * grid.height);
  const fill = region.area / region.quadArea;
  const [tl, tr, br, bl] = region.quad;
  const mx = Math.max(1, OUTER.margin * grid.width);
  const my = Math.max(1, OUTER.margin * grid.height);
  const aspect = (distance(tl, tr) + distance(bl, br)) / (distance(tl, bl) + distance(tr, br));
  // Clearly inside the picture: the sides keep a margin from its border, measured at each side's
  // middle (a slanted film may bring one corner close to the border).
  const sidesWithMargin = [
    (tl.y + tr.y) / 2 >= my,
    grid.height - (bl.y + br.y) / 2 >= my,
    (tl.x + bl.x) / 2 >= mx,
    grid.width - (tr.x + br.x) / 2 >= mx,
  ].filter(Boolean).length;
  trace?.(
    `  share ${share.toFixed(2)} fill ${fill.toFixed(2)} aspect ${aspect.toFixed(2)} sides with margin ${sidesWithMargin}`,
  );
  return (
    share >= OUTER.minShare &&
    share <= OUTER.maxShare &&
    fill >= MIN_FILL &&
    aspect >= ASPECT_RANGE[0] &&
    aspect <= ASPECT_RANGE[1] &&
    sidesWithMargin >= (photo ? MIN_SIDES_WITH_MARGIN.photo : MIN_SIDES_WITH_MARGIN.grey) &&
    (sidesWithMargin === 4 || share >= MIN_SHARE_AT_BORDER)
  );
}

// ---------------------------------------------------------------------------------------------
// Nested outlines (fine copy)
// ---------------------------------------------------------------------------------------------

/**
 * The next outline inside `outer` (fine-copy coordinates). The outer quadrilateral is rectified
 * (mapped projectively onto an upright rectangle): a film lies in the plane of its light box, an
 * X-ray in the plane of its screen, so in the rectified copy they are upright rectangles. From
 * each side: find the outer edge band, step past it and across plain lines to the first line that
 * is an edge along most of its length. Sides without one stay put. Null when no side moved, or
 * when what lies between the outlines is not plain (anatomy rather than a panel or a bezel).
 */
function findInner(image: Grey, outer: Quad, trace?: (line: string) => void): Quad | null {
  const flatEdges = rectifiedEdges(image, outer);
  if (flatEdges === null) return null;
  const { w, h, toImage, rowEdge, colEdge } = flatEdges;
  const centre = new Float32Array(Math.ceil(h / 2) * Math.ceil(w / 2));
  let c = 0;
  for (let v = Math.floor(h * 0.25); v < h * 0.75; v++) {
    for (let u = Math.floor(w * 0.25); u < w * 0.75; u++) {
      centre[c++] = Math.max(rowEdge[v * w + u] ?? 0, colEdge[v * w + u] ?? 0);
    }
  }
  centre.subarray(0, c).sort();
  const threshold = Math.max(NESTED_EDGE_FLOOR, NESTED_EDGE_FACTOR * quantile(centre.subarray(0, c), 0.5));
  const rows = edgeLines(rowEdge, w, h, 'rows', threshold);
  const cols = edgeLines(colEdge, w, h, 'columns', threshold);
  trace?.(
    `  rows ${rows.map((e) => (e ? '#' : '.')).join('')}\n  cols ${cols.map((e) => (e ? '#' : '.')).join('')}`,
  );
  const sides = {
    top: stepInward(rows, 1),
    bottom: stepInward(rows, -1),
    left: stepInward(cols, 1),
    right: stepInward(cols, -1),
  };
  const u0 = sides.left?.edge ?? 0;
  const u1 = (sides.right?.edge ?? w - 1) + 1;
  const v0 = sides.top?.edge ?? 0;
  const v1 = (sides.bottom?.edge ?? h - 1) + 1;
  trace?.(`inner ${u0},${v0}-${u1},${v1} of ${w}x${h}, edge threshold ${threshold.toFixed(1)}`);
  if (u0 === 0 && v0 === 0 && u1 === w && v1 === h) return null;
  const share = ((u1 - u0) * (v1 - v0)) / (w * h);
  if (share < NESTED.minShare || share > NESTED.maxShare) return null;
  // What lies between the outer band and the new outline must be plain compared with the inside.
  const inside = meanEdgeOver(rowEdge, colEdge, w, [
    {
      left: u0 + 2,
      top: v0 + 2,
      width: u1 - u0 - 4,
      height: v1 - v0 - 4,
    },
  ]);
  const midU = { left: Math.round(w * 0.15), width: Math.round(w * 0.7) };
  const midV = { top: Math.round(h * 0.15), height: Math.round(h * 0.7) };
  // The lines between, leaving out one line next to the outer band and two next to the new edge
  // (blurred edges have tails).
  const between = (side: { edge: number; plainFrom: number }, step: 1 | -1) =>
    step > 0
      ? { from: side.plainFrom + 1, to: side.edge - 3 }
      : { from: side.edge + 3, to: side.plainFrom - 1 };
  const gaps: Rect[] = [];
  for (const [side, step, horizontal] of [
    [sides.top, 1, true],
    [sides.bottom, -1, true],
    [sides.left, 1, false],
    [sides.right, -1, false],
  ] as const) {
    if (side === null) continue;
    const { from, to } = between(side, step);
    gaps.push(
      horizontal
        ? { ...midU, top: from, height: to - from + 1 }
        : { ...midV, left: from, width: to - from + 1 },
    );
  }
  const ring = meanEdgeOver(rowEdge, colEdge, w, gaps);
  trace?.(`  between ${ring.toFixed(2)} inside ${inside.toFixed(2)}`);
  if (!(ring <= PLAIN_RING * inside)) return null;
  return rectCorners(u1 - u0, v1 - v0, u0, v0).map((p) => applyHomography(toImage, p)) as Quad;
}

interface RectifiedEdges {
  w: number;
  h: number;
  /** From rectified coordinates to the image's. */
  toImage: number[];
  /** Gradients across rows (top and bottom edges) and across columns (left and right edges). */
  rowEdge: Float32Array;
  colEdge: Float32Array;
}

/** The quadrilateral's inside mapped onto an upright rectangle, with directional gradients. */
function rectifiedEdges(image: Grey, quad: Quad): RectifiedEdges | null {
  const [tl, tr, br, bl] = quad;
  const w = Math.min(FINE_SIDE, Math.round((distance(tl, tr) + distance(bl, br)) / 2));
  const h = Math.min(FINE_SIDE, Math.round((distance(tl, bl) + distance(tr, br)) / 2));
  if (w < 24 || h < 24) return null;
  const toImage = homography(rectCorners(w, h), quad);
  const flat = rectify(image, toImage, w, h);
  const rowEdge = new Float32Array(w * h);
  const colEdge = new Float32Array(w * h);
  for (let v = 1; v < h - 1; v++) {
    for (let u = 1; u < w - 1; u++) {
      const i = v * w + u;
      rowEdge[i] = Math.abs((flat[i + w] as number) - (flat[i - w] as number)) / 2;
      colEdge[i] = Math.abs((flat[i + 1] as number) - (flat[i - 1] as number)) / 2;
    }
  }
  return { w, h, toImage, rowEdge, colEdge };
}

/**
 * Moves each side of the outer outline (which lies a few pixels outside its edge: it comes from a
 * thickened, blurred edge mask) onto the strongest parallel edge line within SNAP_REACH of it.
 */
function snapToEdges(image: Grey, quad: Quad): Quad {
  const flatEdges = rectifiedEdges(image, quad);
  if (flatEdges === null) return quad;
  const { w, h, toImage, rowEdge, colEdge } = flatEdges;
  const rows = meanProfile(rowEdge, w, h, 'rows');
  const cols = meanProfile(colEdge, w, h, 'columns');
  const strongest = (profile: Float32Array, from: number, to: number) => {
    let best = from;
    for (let k = from; k <= to; k++) if ((profile[k] as number) > (profile[best] as number)) best = k;
    return best;
  };
  const reachV = Math.max(3, Math.round(h * SNAP_REACH));
  const reachU = Math.max(3, Math.round(w * SNAP_REACH));
  // Lines 0 and n - 1 have no gradient (no neighbour on one side): search from 1.
  const v0 = strongest(rows, 1, reachV);
  const v1 = strongest(rows, h - 1 - reachV, h - 2) + 1;
  const u0 = strongest(cols, 1, reachU);
  const u1 = strongest(cols, w - 1 - reachU, w - 2) + 1;
  return rectCorners(u1 - u0, v1 - v0, u0, v0).map((p) => applyHomography(toImage, p)) as Quad;
}

/** Per row (or column): mean gradient over its middle 70%. */
function meanProfile(edge: Float32Array, w: number, h: number, along: 'rows' | 'columns'): Float32Array {
  const lines = along === 'rows' ? h : w;
  const length = along === 'rows' ? w : h;
  const from = Math.floor(length * 0.15);
  const to = Math.ceil(length * 0.85);
  const out = new Float32Array(lines);
  for (let line = 0; line < lines; line++) {
    let sum = 0;
    for (let k = from; k < to; k++) sum += edge[along === 'rows' ? line * w + k : k * w + line] as number;
    out[line] = sum / Math.max(1, to - from);
  }
  return out;
}

/** Mean of the larger directional gradient over rectangles, pooled (0 when they are empty). */
function meanEdgeOver(
  rowEdge: Float32Array,
  colEdge: Float32Array,
  w: number,
  rects: readonly Rect[],
): number {
  let sum = 0;
  let n = 0;
  for (const r of rects) {
    for (let v = r.top; v < r.top + r.height; v++) {
      for (let u = r.left; u < r.left + r.width; u++) {
        sum += Math.max(rowEdge[v * w + u] ?? 0, colEdge[v * w + u] ?? 0);
        n++;
      }
    }
  }
  return n === 0 ? 0 : sum / n;
}

/** Per row (or column): whether it is an edge along LINE_SUPPORT of its middle 70%. */
function edgeLines(
  edge: Float32Array,
  w: number,
  h: number,
  along: 'rows' | 'columns',
  threshold: number,
): boolean[] {
  const lines = along === 'rows' ? h : w;
  const length = along === 'rows' ? w : h;
  const from = Math.floor(length * 0.15);
  const to = Math.ceil(length * 0.85);
  const out: boolean[] = [];
  for (let line = 0; line < lines; line++) {
    let hits = 0;
    for (let k = from; k < to; k++) {
      // One line either side counts too: the rectification is not exact to the pixel.
      for (let l = Math.max(0, line - 1); l <= Math.min(lines - 1, line + 1); l++) {
        if ((edge[along === 'rows' ? l * w + k : k * w + l] ?? 0) > threshold) {
          hits++;
          break;
        }
      }
    }
    out.push(hits >= LINE_SUPPORT * (to - from));
  }
  return out;
}

/**
 * From one end of the line flags: find the outer edge band near the end (if visible), step past
 * it, then across plain lines to the next edge line within MAX_INSET. Returns that line's index
 * and where the plain lines began (both counted from index 0), or null when there is none.
 */
function stepInward(isEdge: readonly boolean[], step: 1 | -1): { edge: number; plainFrom: number } | null {
  const n = isEdge.length;
  const end = step > 0 ? 0 : n - 1;
  const at = (k: number) => isEdge[end + step * k] ?? false;
  const limit = Math.round(n * MAX_INSET);
  // The outer outline may lie a few pixels outside its edge.
  const bandReach = Math.max(6, Math.round(n * 0.08));
  let k = 0;
  while (k < bandReach && !at(k)) k++;
  if (k === bandReach) k = 0;
  while (k < limit && at(k)) k++;
  const plainFrom = k;
  while (k < limit && !at(k)) k++;
  if (k >= limit || k === plainFrom) return null;
  return { edge: end + step * k, plainFrom: end + step * plainFrom };
}

/** Bilinear samples of `image` at `m` applied to the centres of a w x h grid. */
function rectify(image: Grey, m: readonly number[], w: number, h: number): Float32Array {
  const [a = 0, b = 0, c = 0, d = 0, e = 0, f = 0, g = 0, k = 0, l = 1] = m;
  const out = new Float32Array(w * h);
  for (let v = 0; v < h; v++) {
    const py = v + 0.5;
    for (let u = 0; u < w; u++) {
      const px = u + 0.5;
      const z = g * px + k * py + l;
      out[v * w + u] = sampleBilinear(image, (a * px + b * py + c) / z, (d * px + e * py + f) / z);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Geometry
// ---------------------------------------------------------------------------------------------

/** 3x3 projective matrix (row-major, last entry 1) taking the 4 `from` points onto the 4 `to` points. */
export function homography(from: readonly Corner[], to: readonly Corner[]): number[] {
  const rows: number[][] = [];
  for (let i = 0; i < 4; i++) {
    const p = from[i] ?? { x: 0, y: 0 };
    const q = to[i] ?? { x: 0, y: 0 };
    rows.push([p.x, p.y, 1, 0, 0, 0, -q.x * p.x, -q.x * p.y, q.x]);
    rows.push([0, 0, 0, p.x, p.y, 1, -q.y * p.x, -q.y * p.y, q.y]);
  }
  return [...solveLinear(rows), 1];
}

export function applyHomography(m: readonly number[], p: Corner): Corner {
  const [a = 0, b = 0, c = 0, d = 0, e = 0, f = 0, g = 0, k = 0, l = 1] = m;
  const w = g * p.x + k * p.y + l;
  return { x: (a * p.x + b * p.y + c) / w, y: (d * p.x + e * p.y + f) / w };
}

/** Gauss-Jordan elimination with partial pivoting on an augmented n x (n + 1) matrix. */
function solveLinear(m: number[][]): number[] {
  const n = m.length;
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) {
      if (Math.abs(m[r]?.[col] ?? 0) > Math.abs(m[pivot]?.[col] ?? 0)) pivot = r;
    }
    [m[col], m[pivot]] = [m[pivot] ?? [], m[col] ?? []];
    const top = m[col] ?? [];
    const div = top[col] ?? 1;
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const row = m[r] ?? [];
      const factor = (row[col] ?? 0) / div;
      if (factor === 0) continue;
      for (let c = col; c <= n; c++) row[c] = (row[c] ?? 0) - factor * (top[c] ?? 0);
    }
  }
  return m.map((row, i) => (row[n] ?? 0) / (row[i] ?? 1));
}

export function rectCorners(width: number, height: number, left = 0, top = 0): Quad {
  return [
    { x: left, y: top },
    { x: left + width, y: top },
    { x: left + width, y: top + height },
    { x: left, y: top + height },
  ];
}

function insideQuad(quad: Quad, x: number, y: number): boolean {
  for (let i = 0; i < 4; i++) {
    const a = quad[i] ?? quad[0];
    const b = quad[(i + 1) % 4] ?? quad[0];
    if ((b.x - a.x) * (y - a.y) - (b.y - a.y) * (x - a.x) < 0) return false;
  }
  return true;
}

/** The largest upright box inside a quadrilateral (clockwise from top-left), shrunk by `inset`. */
export function innerBox(quad: Quad, inset = 0): Rect {
  const [tl, tr, br, bl] = quad;
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

function formatQuad(quad: Quad): string {
  return quad.map((p) => `${Math.round(p.x)},${Math.round(p.y)}`).join(' ');
}

function quantile(sorted: ArrayLike<number>, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

/** Otsu's threshold over 0..255 grey levels. */
function otsuThreshold(values: ArrayLike<number>): number {
  const histogram = new Float64Array(256);
  for (let i = 0; i < values.length; i++) {
    const bin = Math.max(0, Math.min(255, Math.round(values[i] ?? 0)));
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
    const between =
      weightBelow * weightAbove * (sumBelow / weightBelow - (sumAll - sumBelow) / weightAbove) ** 2;
    if (between > best) {
      best = between;
      threshold = t;
    }
  }
  return threshold;
}
