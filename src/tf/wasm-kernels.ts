import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
// Registers the stock wasm kernels first, so that ours replace them rather than the reverse.
import '@tensorflow/tfjs-backend-wasm';

/**
 * Training kernels for the tfjs wasm backend. tfjs-backend-wasm 4.22 has no
 * Conv2DBackpropFilter at all, and several kernels of a CNN training step are naive loops
 * far slower than the forward (XNNPACK) ones: Conv2DBackpropInput, MaxPoolGrad, Tile, Sum
 * and Mean over leading axes, FusedBatchNorm; Identity copies. Each kernel here works on
 * TensorInfos at the kernel level: it calls the backend's own kernels directly and fills
 * scratch buffers with JS loops over the wasm heap, disposing every intermediate through
 * `backend.disposeData`, so no engine tensor is created and nothing reaches a tape. Cases a
 * replacement does not cover go to the stock kernel.
 */

type Info = tf.TensorInfo;
type Attrs = tf.NamedAttrMap;

const BACKEND = 'wasm';

/** Run a registered wasm kernel directly; the caller owns (and must dispose) the result. */
function call(backend: BackendWasm, name: string, inputs: Record<string, Info>, attrs: Attrs = {}): Info {
  const kernel = tf.getKernel(name, BACKEND);
  if (!kernel) throw new Error(`wasm kernel '${name}' is not registered`);
  return kernel.kernelFunc({ inputs, backend, attrs }) as Info;
}

/** Intermediates of one kernel call, freed together; the kernel's inputs are never freed. */
class Temps {
  private readonly owned: Info[] = [];
  constructor(
    private readonly backend: BackendWasm,
    private readonly inputs: Info[],
  ) {}

  /** Track `info` unless it shares data with an input (a reshape or a no-op step). */
  add(info: Info): Info {
    if (!this.inputs.some((i) => i.dataId === info.dataId)) this.owned.push(info);
    return info;
  }

  free(): void {
    for (const info of this.owned.splice(0)) this.backend.disposeData(info.dataId);
  }
}

/** A float32 view on a tensor's wasm memory. Take it after the last allocation: growth detaches it. */
function view(backend: BackendWasm, info: Info): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}

/** The same data under another shape, without touching ref counts (only for read-only inputs). */
function reshaped(info: Info, shape: number[]): Info {
  return { dataId: info.dataId, shape, dtype: info.dtype };
}

function convInfo(xShape: number[], filterShape: number[], attrs: Attrs): tf.backend_util.Conv2DInfo {
  const { strides, pad, dataFormat, dimRoundingMode } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  if (dataFormat === 'NCHW') throw new Error('wasm training kernels support NHWC only');
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
  );
}

// ---------------------------------------------------------------------------------------
// Conv2DBackpropFilter: dW = P^T · dy, with P^T the (kh, kw, ci) x (n, oh, ow) patch matrix
// and the product done by the backend's XNNPACK matmul (P^T rather than P because the wasm
// BatchMatMul is ~10x slower with transposeA). P^T is built in JS from x transposed to
// [C, N, H, W], where each patch row is made of contiguous runs.

function conv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs): Info {
  const { x, dy } = inputs as { x: Info; dy: Info };
  const { filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const c = convInfo(x.shape, filterShape, attrs);
  const rows = c.filterHeight * c.filterWidth * c.inChannels;
  const cols = c.batchSize * c.outHeight * c.outWidth;
  const temps = new Temps(backend, [x, dy]);
  const xT = temps.add(channelsFirst(backend, x));
  const patchesT = temps.add(backend.makeOutput([rows, cols], 'float32'));
  const sameGrid =
    c.strideHeight === 1 && c.strideWidth === 1 && c.outHeight === c.inHeight && c.outWidth === c.inWidth;
  (sameGrid ? shiftedPatchesT : gatheredPatchesT)(view(backend, xT), view(backend, patchesT), c);
  const dw = call(
    backend,
    tf.BatchMatMul,
    { a: patchesT, b: reshaped(dy, [cols, c.outChannels]) },
    { transposeA: false, transposeB: false },
  );
  temps.free();
  return reshaped(dw, filterShape);
}

type PatchFiller = (xT: Float32Array, out: Float32Array, c: tf.backend_util.Conv2DInfo) => void;

/**
 * Stride 1 with output size = input size ('same'): the patch row of tap (kh, kw) is each
 * image plane shifted by (kh - top) * W + (kw - left), i.e. one memcpy per plane, after
 * which the rows and columns that fell outside the image (wrapped in from neighbours) are
 * zeroed. Writes every element of `out` (fresh wasm memory is not zeroed).
 */
const shiftedPatchesT: PatchFiller = (xT, out, c) => {
  const { inHeight: H, inWidth: W, padInfo } = c;
  const size = H * W;
  const planes = c.inChannels * c.batchSize;
  let o = 0;
  for (let kh = 0; kh < c.filterHeight; kh++) {
    for (let kw = 0; kw < c.filterWidth; kw++) {
      const [dh, dw] = [kh - padInfo.top, kw - padInfo.left];
      // Output pixels whose input pixel (oh + dh, ow + dw) is inside the image.
      const [h0, h1] = [Math.max(0, -dh), Math.min(H, H - dh)];
      const [w0, w1] = [Math.max(0, -dw), Math.min(W, W - dw)];
      const shift = dh * W + dw;
      for (let p = 0; p < planes; p++, o += size) {
        if (h0 >= h1 || w0 >= w1) {
          out.fill(0, o, o + size);
          continue;
        }
        const [first, last] = [o + h0 * W + w0, o + (h1 - 1) * W + w1];
        const src = p * size + shift - o;
        out.fill(0, o, first);
        out.set(xT.subarray(first + src, last + src), first);
        out.fill(0, last, o + size);
        // Between one row's last valid column and the next row's first sit wrapped values.
        if (w1 - w0 < W) {
          for (let row = o + h0 * W; row < o + (h1 - 1) * W; row += W) {
            for (let i = row + w1; i < row + W + w0; i++) out[i] = 0;
          }
        }
      }
    }
  }
};

/** Any stride and padding: gathers P^T row by row. */
const gatheredPatchesT: PatchFiller = (xT, out, c) => {
  const { batchSize, inHeight: H, inWidth: W, inChannels, outHeight, outWidth: OW } = c;
  const { strideHeight: sh, strideWidth: sw, padInfo } = c;
  let o = 0;
  for (let kh = 0; kh < c.filterHeight; kh++) {
    for (let kw = 0; kw < c.filterWidth; kw++) {
      const dw = kw - padInfo.left;
      // Output columns whose input column ow * sw + dw lies inside [0, W).
      const lo = Math.min(OW, Math.max(0, Math.ceil(-dw / sw)));
      const hi = Math.max(lo, Math.min(OW, Math.floor((W - 1 - dw) / sw) + 1));
      for (let plane = 0; plane < inChannels * batchSize; plane++) {
        for (let oh = 0; oh < outHeight; oh++, o += OW) {
          const ih = oh * sh + kh - padInfo.top;
          if (ih < 0 || ih >= H) {
            out.fill(0, o, o + OW);
            continue;
          }
          const row = (plane * H + ih) * W + dw;
          if (lo > 0) out.fill(0, o, o + lo);
          // TypedArray.set is a memcpy but costs a subarray object per call: loop short rows.
          if (sw === 1 && hi - lo >= 32) out.set(xT.subarray(row + lo, row + hi), o + lo);
          else for (let ow = lo; ow < hi; ow++) out[o + ow] = xT[row + ow * sw]!;
          if (hi < OW) out.fill(0, o + hi, o + OW);
        }
      }
    }
  }
};

/** [N, H, W, C] -> [C, N, H, W] so that patch rows are runs of contiguous copies. */
function channelsFirst(backend: BackendWasm, x: Info): Info {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  if (c === 1) return reshaped(x, [1, n, h, w]);
  return reshaped(call(backend, tf.Transpose, { x }, { perm: [3, 0, 1, 2] }), [c, n, h, w]);
}

// ---------------------------------------------------------------------------------------
// Conv2DBackpropInput: dx is a stride-1 forward Conv2D of dy (zero-dilated by the stride,
// padded to "full") with the filter rotated 180 degrees and its in/out channels swapped.
// The stock kernel is a naive loop about 10x slower than XNNPACK's convolution.

function conv2DBackpropInput({ inputs, backend, attrs }: KernelArgs): Info {
  const { dy, filter } = inputs as { dy: Info; filter: Info };
  const { inputShape } = attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const info = convInfo(inputShape, filter.shape, attrs);
  const pads = fullPadding(info);
  if (pads === undefined) return stockKernel(tf.Conv2DBackpropInput)({ inputs, backend, attrs }) as Info;
  const temps = new Temps(backend, [dy, filter]);
  const flipped = temps.add(flipFilter(backend, filter));
  const unitStride = info.strideHeight === 1 && info.strideWidth === 1;
  const src = unitStride ? dy : temps.add(dilateAndPad(backend, dy, info, pads));
  const explicit = unitStride
    ? [
        [0, 0],
        [pads[0], pads[1]],
        [pads[2], pads[3]],
        [0, 0],
      ]
    : 'valid';
  const dx = call(
    backend,
    tf.Conv2D,
    { x: src, filter: flipped },
    {
      strides: 1,
      pad: explicit,
      dataFormat: 'NHWC',
      dilations: 1,
    },
  );
  temps.free();
  return dx;
}

/**
 * [top, bottom, left, right] padding of the (dilated) dy that makes a valid convolution
 * yield the input's size, or undefined when a side would be negative (explicit paddings
 * wider than the filter), which we leave to the stock kernel.
 */
function fullPadding(c: tf.backend_util.Conv2DInfo): [number, number, number, number] | undefined {
  const { filterHeight: kh, filterWidth: kw, padInfo } = c;
  const pads: [number, number, number, number] = [
    kh - 1 - padInfo.top,
    c.inHeight + padInfo.top - (c.outHeight - 1) * c.strideHeight - 1,
    kw - 1 - padInfo.left,
    c.inWidth + padInfo.left - (c.outWidth - 1) * c.strideWidth - 1,
  ];
  return pads.every((p) => p >= 0) ? pads : undefined;
}

/** W'[kh, kw, co, ci] = W[KH-1-kh, KW-1-kw, ci, co]. Filters are small; a JS loop is enough. */
function flipFilter(backend: BackendWasm, filter: Info): Info {
  const [kh, kw, ci, co] = filter.shape as [number, number, number, number];
  const out = backend.makeOutput([kh, kw, co, ci], 'float32');
  const w = view(backend, filter);
  const o = view(backend, out);
  for (let h = 0; h < kh; h++) {
    for (let x = 0; x < kw; x++) {
      const src = ((kh - 1 - h) * kw + (kw - 1 - x)) * ci * co;
      const dst = (h * kw + x) * co * ci;
      for (let i = 0; i < ci; i++) for (let j = 0; j < co; j++) o[dst + j * ci + i] = w[src + i * co + j]!;
    }
  }
  return out;
}

/** dy with (stride - 1) zeros between pixels and the full padding around it. */
function dilateAndPad(
  backend: BackendWasm,
  dy: Info,
  c: tf.backend_util.Conv2DInfo,
  [top, bottom, left, right]: [number, number, number, number],
): Info {
  const { batchSize, outHeight: oh, outWidth: ow, outChannels: ch, strideHeight: sh, strideWidth: sw } = c;
  const h = top + (oh - 1) * sh + 1 + bottom;
  const w = left + (ow - 1) * sw + 1 + right;
  const out = backend.makeOutput([batchSize, h, w, ch], 'float32');
  const src = view(backend, dy);
  const dst = view(backend, out);
  dst.fill(0);
  for (let n = 0; n < batchSize; n++) {
    for (let y = 0; y < oh; y++) {
      const rowIn = (n * oh + y) * ow * ch;
      const rowOut = ((n * h + top + y * sh) * w + left) * ch;
      for (let x = 0; x < ow; x++) {
        dst.set(src.subarray(rowIn + x * ch, rowIn + (x + 1) * ch), rowOut + x * sw * ch);
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// MaxPoolGrad: route each dy to the first maximum of its window (tfjs's tie rule), in one
// pass over the windows with channels innermost. The stock kernel is ~5x slower.

function maxPoolGrad({ inputs, backend, attrs }: KernelArgs): Info {
  const { dy, input } = inputs as { dy: Info; input: Info };
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPoolGradAttrs;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const dx = backend.makeOutput(input.shape, 'float32');
  const [x, g, out] = [view(backend, input), view(backend, dy), view(backend, dx)];
  if (isExact2x2(info)) routeToMax2x2(x, g, out, info);
  else routeToMax(x, g, out, info);
  return dx;
}

/** 2x2 windows with stride 2 that tile the input exactly: every dx element is in one window. */
function isExact2x2(c: tf.backend_util.Conv2DInfo): boolean {
  const { padInfo: p } = c;
  return (
    c.filterHeight === 2 &&
    c.filterWidth === 2 &&
    c.strideHeight === 2 &&
    c.strideWidth === 2 &&
    p.top === 0 &&
    p.left === 0 &&
    c.inHeight === 2 * c.outHeight &&
    c.inWidth === 2 * c.outWidth
  );
}

/** The common case unrolled; writes all of dx, so no separate zero fill. */
function routeToMax2x2(
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  c: tf.backend_util.Conv2DInfo,
): void {
  const { batchSize, inWidth: W, inChannels: C, outHeight, outWidth } = c;
  let o = 0;
  for (let row = 0; row < batchSize * outHeight; row++) {
    for (let ow = 0; ow < outWidth; ow++) {
      const a = (2 * row * W + 2 * ow) * C;
      const b = a + C;
      const d = a + W * C;
      const e = d + C;
      for (let ch = 0; ch < C; ch++, o++) {
        // Strict > from -Infinity keeps the first maximum in row-major window order and
        // skips windows of NaN / -Infinity, as the CPU backend does.
        let arg = -1;
        let best = -Infinity;
        if (x[a + ch]! > best) best = x[(arg = a + ch)]!;
        if (x[b + ch]! > best) best = x[(arg = b + ch)]!;
        if (x[d + ch]! > best) best = x[(arg = d + ch)]!;
        if (x[e + ch]! > best) arg = e + ch;
        dx[a + ch] = 0;
        dx[b + ch] = 0;
        dx[d + ch] = 0;
        dx[e + ch] = 0;
        if (arg >= 0) dx[arg] = dy[o]!;
      }
    }
  }
}

/** Any window size, stride and padding; overlapping windows accumulate. */
function routeToMax(
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  c: tf.backend_util.Conv2DInfo,
): void {
  const { batchSize, inHeight: H, inWidth: W, inChannels: C, outHeight, outWidth } = c;
  dx.fill(0);
  let o = 0;
  for (let n = 0; n < batchSize; n++) {
    for (let oh = 0; oh < outHeight; oh++) {
      const top = oh * c.strideHeight - c.padInfo.top;
      const [h0, h1] = [Math.max(0, top), Math.min(H, top + c.filterHeight)];
      for (let ow = 0; ow < outWidth; ow++) {
        const left = ow * c.strideWidth - c.padInfo.left;
        const [w0, w1] = [Math.max(0, left), Math.min(W, left + c.filterWidth)];
        for (let ch = 0; ch < C; ch++, o++) {
          let best = -Infinity;
          let arg = -1;
          for (let ih = h0; ih < h1; ih++) {
            for (let i = ((n * H + ih) * W + w0) * C + ch, iw = w0; iw < w1; iw++, i += C) {
              if (x[i]! > best) best = x[(arg = i)]!;
            }
          }
          if (arg >= 0) dx[arg] = dx[arg]! + dy[o]!;
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Tile: block copies (TypedArray.set / copyWithin, i.e. memcpy) instead of the stock
// per-element index arithmetic; the batch-norm gradient tiles a [1,1,1,C] vector over the
// whole activation.

function tile({ inputs, backend, attrs }: KernelArgs): Info {
  const { x } = inputs as { x: Info };
  const { reps } = attrs as unknown as tf.TileAttrs;
  if (x.dtype === 'string') return stockKernel(tf.Tile)({ inputs, backend, attrs }) as Info;
  const shape = x.shape.map((d, i) => d * (reps[i] ?? 1));
  const out = backend.makeOutput(shape, x.dtype);
  if (shape.some((d) => d === 0)) return out;
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  if (x.shape.length === 0) dst.set(src);
  else tileAxis({ src, dst, shape: x.shape, reps, inStrides: tf.util.computeStrides(x.shape) }, 0, 0, 0);
  return out;
}

interface TileJob {
  src: tf.TypedArray;
  dst: tf.TypedArray;
  shape: number[];
  reps: number[];
  inStrides: number[];
}

/** Fills the output block of `axis` that starts at `dstOff`; returns its length. */
function tileAxis(job: TileJob, axis: number, srcOff: number, dstOff: number): number {
  const { src, dst, shape, reps, inStrides } = job;
  const d = shape[axis]!;
  let len = d;
  if (axis === shape.length - 1) {
    dst.set(src.subarray(srcOff, srcOff + d), dstOff);
  } else {
    const stride = inStrides[axis]!;
    let inner = 0;
    for (let i = 0; i < d; i++) inner = tileAxis(job, axis + 1, srcOff + i * stride, dstOff + i * inner);
    len = d * inner;
  }
  // Double the filled prefix until the block holds reps[axis] copies.
  const total = len * reps[axis]!;
  for (let have = len; have < total; have *= 2) {
    dst.copyWithin(dstOff + have, dstOff, dstOff + Math.min(have, total - have));
  }
  return total;
}

// ---------------------------------------------------------------------------------------
// Sum and Mean over leading axes (batch-norm statistics and gradients reduce NHWC over
// N, H, W). The stock kernels first transpose the reduced axes innermost (~10x slower);
// a matmul with a ones vector would pay XNNPACK's packing of x as weights. Here XNNPACK's
// average pooling of x seen as [1, rows, 1, cols] averages blocks of `block` rows, the
// largest power of two dividing `rows`, so that block * average is exactly the block's
// float32 sum (integer-valued sums stay exact). JS then adds the blocks up in float64.

function sum(args: KernelArgs): Info {
  return reduceLeading(args, false) ?? (stockKernel(tf.Sum)(args) as Info);
}

function mean(args: KernelArgs): Info {
  return reduceLeading(args, true) ?? (stockKernel(tf.Mean)(args) as Info);
}

/** undefined when the reduced axes are not a proper leading run of a float32 tensor. */
function reduceLeading({ inputs, backend, attrs }: KernelArgs, average: boolean): Info | undefined {
  const { x } = inputs as { x: Info };
  const { axis, keepDims } = attrs as unknown as tf.SumAttrs;
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
  const k = axes.length;
  const leading = k > 0 && k < x.shape.length && axes.every((a, i) => a === i);
  const rows = tf.util.sizeFromShape(x.shape.slice(0, k));
  const kept = x.shape.slice(k);
  const cols = tf.util.sizeFromShape(kept);
  if (x.dtype !== 'float32' || !leading || rows * cols === 0) return undefined;
  const block = rows & -rows;
  const temps = new Temps(backend, [x]);
  const blocks =
    block === 1
      ? x
      : temps.add(
          call(
            backend,
            tf.AvgPool,
            { x: reshaped(x, [1, rows, 1, cols]) },
            { filterSize: [block, 1], strides: [block, 1], pad: 'valid' },
          ),
        );
  const out = backend.makeOutput(keepDims ? [...axes.map(() => 1), ...kept] : kept, 'float32');
  columnSums(view(backend, blocks), view(backend, out), rows / block, average ? block / rows : block);
  temps.free();
  return out;
}

/** out[c] = scale * sum over r of m[r, c], accumulated in float64. */
function columnSums(m: Float32Array, out: Float32Array, rows: number, scale: number): void {
  const cols = out.length;
  const acc = new Float64Array(cols);
  for (let r = 0, i = 0; r < rows; r++) for (let c = 0; c < cols; c++, i++) acc[c] = acc[c]! + m[i]!;
  for (let c = 0; c < cols; c++) out[c] = acc[c]! * scale;
}

// ---------------------------------------------------------------------------------------
// FusedBatchNorm with per-channel statistics: y = (x - mean) * k + offset, with
// k = scale / sqrt(variance + epsilon) folded in JS, as one XNNPACK broadcast Sub and one
// 1x1 depthwise convolution with bias (the stock kernel is a ~2.5x slower scalar loop).

function fusedBatchNorm({ inputs, backend, attrs }: KernelArgs): Info {
  const { x, mean, variance, offset, scale } = inputs as Record<string, Info | undefined> & { x: Info };
  const { varianceEpsilon } = attrs as unknown as tf.FusedBatchNormAttrs;
  const channels = x.shape.at(-1) ?? 0;
  const perChannel = (t: Info | undefined): boolean =>
    t === undefined ||
    (t.dtype === 'float32' && t.shape.every((d, i) => d === (i === t.shape.length - 1 ? channels : 1)));
  const stats = [mean, variance, offset, scale];
  if (x.dtype !== 'float32' || channels === 0 || !mean || !variance || !stats.every(perChannel)) {
    return stockKernel(tf.FusedBatchNorm)({ inputs, backend, attrs }) as Info;
  }
  const pixels = tf.util.sizeFromShape(x.shape) / channels;
  const temps = new Temps(backend, [x, mean, variance]);
  const filter = temps.add(backend.makeOutput([1, 1, channels, 1], 'float32'));
  const bias = temps.add(backend.makeOutput([channels], 'float32'));
  const [k, b, v] = [view(backend, filter), view(backend, bias), view(backend, variance)];
  const [g, o] = [scale && view(backend, scale), offset && view(backend, offset)];
  for (let c = 0; c < channels; c++) {
    k[c] = (g?.[c] ?? 1) / Math.sqrt(v[c]! + varianceEpsilon);
    b[c] = o?.[c] ?? 0;
  }
  const centered = temps.add(
    call(backend, tf.Sub, { a: reshaped(x, [1, 1, pixels, channels]), b: reshaped(mean, [channels]) }),
  );
  const y = call(
    backend,
    tf.FusedDepthwiseConv2D,
    { x: centered, filter, bias },
    { strides: 1, pad: 'valid', dilations: 1, dataFormat: 'NHWC', activation: 'linear' },
  );
  temps.free();
  return reshaped(y, x.shape);
}

// ---------------------------------------------------------------------------------------
// Identity: share the data under one more reference, as the CPU and WebGL backends do
// (tfjs tensors are immutable; Reshape already shares on wasm). The stock kernel copies,
// and tf.customGrad (fused conv2d) clones every saved activation through it.

function identity({ inputs, backend, attrs }: KernelArgs): Info {
  const { x } = inputs as { x: Info };
  if (x.dtype === 'string') return stockKernel(tf.Identity)({ inputs, backend, attrs }) as Info;
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

// ---------------------------------------------------------------------------------------
// Registration.

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: Attrs;
}

function asKernelFunc(f: (args: KernelArgs) => Info): tf.KernelFunc {
  return (args) => f({ inputs: args.inputs, backend: args.backend as BackendWasm, attrs: args.attrs ?? {} });
}

/** Stock wasm kernels that ours replace; faster in the training step, same results. */
const REPLACEMENTS: Record<string, tf.KernelFunc> = {
  [tf.Conv2DBackpropInput]: asKernelFunc(conv2DBackpropInput),
  [tf.MaxPoolGrad]: asKernelFunc(maxPoolGrad),
  [tf.Tile]: asKernelFunc(tile),
  [tf.Sum]: asKernelFunc(sum),
  [tf.Mean]: asKernelFunc(mean),
  [tf.Identity]: asKernelFunc(identity),
  [tf.FusedBatchNorm]: asKernelFunc(fusedBatchNorm),
};

/** Names of the stock wasm kernels that `registerWasmTrainingKernels` overrides. */
export const REPLACED_KERNELS: readonly string[] = Object.keys(REPLACEMENTS);

const stock = new Map<string, tf.KernelConfig>();

/** The stock kernel, for the cases ours leave to it (and for benchmarks). */
function stockKernel(name: string): tf.KernelFunc {
  const config = stock.get(name);
  if (!config) throw new Error(`no stock wasm kernel '${name}' was saved`);
  return config.kernelFunc;
}

function replaceKernel(config: tf.KernelConfig): void {
  if (tf.getKernel(config.kernelName, BACKEND)) tf.unregisterKernel(config.kernelName, BACKEND);
  tf.registerKernel(config);
}

let registered = false;

/**
 * Register Conv2DBackpropFilter for wasm and replace the slow stock training kernels
 * (idempotent). Call before `tf.setBackend('wasm')`; it also works afterwards.
 */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  registered = true;
  replaceKernel({
    kernelName: tf.Conv2DBackpropFilter,
    backendName: BACKEND,
    kernelFunc: asKernelFunc(conv2DBackpropFilter),
  });
  useReplacementKernels(true);
}

/**
 * Switch between our replacements and the stock wasm kernels of REPLACED_KERNELS (for
 * benchmarks and tests). Conv2DBackpropFilter stays: the stock backend has none.
 */
export function useReplacementKernels(enabled: boolean): void {
  for (const [name, impl] of Object.entries(REPLACEMENTS)) {
    if (!stock.has(name)) {
      const original = tf.getKernel(name, BACKEND);
      if (!original) throw new Error(`tfjs-backend-wasm has no '${name}' kernel to replace`);
      stock.set(name, original);
    }
    const original = stock.get(name)!;
    // Keep the stock setupFunc: it binds the wasm function our fallbacks call.
    replaceKernel(enabled ? { ...original, kernelFunc: impl } : original);
  }
}
