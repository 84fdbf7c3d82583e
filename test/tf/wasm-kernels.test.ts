import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  REPLACED_KERNELS,
  registerWasmTrainingKernels,
  useReplacementKernels,
} from '../../src/tf/wasm-kernels.js';

type Pad = 'valid' | 'same' | [[0, 0], [number, number], [number, number], [0, 0]];

/** Worst relative error seen per kernel, printed at the end for the record. */
const worst = new Map<string, number>();
const TOLERANCE = 1e-4;

beforeAll(async () => {
  registerWasmTrainingKernels();
  registerWasmTrainingKernels(); // idempotent
  // Makes the engine check, kernel by kernel, that no backend data id is leaked.
  tf.env().set('IS_TEST', true);
  await tf.setBackend('wasm');
});

afterAll(() => {
  tf.env().set('IS_TEST', false);
  const rows = [...worst].map(([k, e]) => `${k}: ${e.toExponential(2)}`);
  console.log(`max relative error vs cpu: ${rows.join(', ')}`);
});

/** Deterministic values in [-1, 1) (mulberry32), the same on every backend. */
function values(size: number, seed: number): Float32Array {
  let a = seed >>> 0;
  return Float32Array.from({ length: size }, () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1;
  });
}

function random(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(values(tf.util.sizeFromShape(shape), seed), shape);
}

/** Runs `build` on cpu, then on wasm; checks neither leaks a tensor or backend data; returns both results. */
async function onBoth(build: () => tf.Tensor): Promise<[Float32Array, Float32Array]> {
  const results: Float32Array[] = [];
  for (const name of ['cpu', 'wasm']) {
    await tf.setBackend(name);
    const before = [tf.memory().numTensors, tf.backend().numDataIds()];
    const t = tf.tidy(build);
    results.push(Float32Array.from(t.dataSync()));
    t.dispose();
    expect([tf.memory().numTensors, tf.backend().numDataIds()]).toEqual(before);
  }
  await tf.setBackend('wasm');
  return results as [Float32Array, Float32Array];
}

/** max |actual - expected| / max |expected|: robust to entries that cancel to ~0. */
function relativeError(expected: Float32Array, actual: Float32Array): number {
  expect(actual.length).toBe(expected.length);
  let diff = 0;
  let scale = 0;
  expected.forEach((e, i) => {
    diff = Math.max(diff, Math.abs(e - actual[i]!));
    scale = Math.max(scale, Math.abs(e));
  });
  return scale === 0 ? diff : diff / scale;
}

async function expectSame(kernel: string, build: () => tf.Tensor): Promise<void> {
  const [cpu, wasm] = await onBoth(build);
  const err = relativeError(cpu, wasm);
  worst.set(kernel, Math.max(worst.get(kernel) ?? 0, err));
  expect(err).toBeLessThan(TOLERANCE);
}

function wasmKernelFunc(name: string): tf.KernelFunc | undefined {
  return tf.getKernel(name, 'wasm')?.kernelFunc;
}

// [batch, height, width, inChannels, outChannels, filterSize, stride, pad]
const convCases: [number, number, number, number, number, number, number, Pad][] = [
  [2, 9, 9, 3, 4, 3, 1, 'same'],
  [2, 9, 9, 3, 4, 3, 1, 'valid'],
  [3, 8, 7, 2, 5, 3, 2, 'same'],
  [2, 11, 10, 4, 3, 3, 2, 'valid'],
  [1, 7, 5, 1, 6, 5, 1, 'same'],
  [2, 6, 9, 5, 2, 1, 1, 'valid'],
  [2, 10, 10, 3, 4, 4, 2, 'same'],
  [2, 6, 7, 2, 3, 4, 1, 'same'],
  [
    2,
    6,
    7,
    3,
    2,
    3,
    1,
    [
      [0, 0],
      [2, 0],
      [0, 2],
      [0, 0],
    ],
  ],
  [
    2,
    7,
    8,
    2,
    3,
    3,
    1,
    [
      [0, 0],
      [1, 2],
      [2, 0],
      [0, 0],
    ],
  ],
  [
    2,
    7,
    8,
    2,
    3,
    3,
    2,
    [
      [0, 0],
      [2, 1],
      [0, 1],
      [0, 0],
    ],
  ],
];

/** sum(conv2d(x, f) * r) for a fixed random r, so every output element matters. */
function weightedConv(x: tf.Tensor4D, f: tf.Tensor4D, stride: number, pad: Pad): tf.Scalar {
  const y = tf.conv2d(x, f, stride, pad);
  return tf.sum(tf.mul(y, random(y.shape, 99)));
}

describe('Conv2DBackpropFilter and Conv2DBackpropInput on wasm', () => {
  for (const [n, h, w, ci, co, k, s, pad] of convCases) {
    const label = `${n}x${h}x${w}x${ci} -> ${co}, ${k}x${k}, stride ${s}, pad ${JSON.stringify(pad)}`;
    const x = (): tf.Tensor4D => random([n, h, w, ci], 1) as tf.Tensor4D;
    const f = (): tf.Tensor4D => random([k, k, ci, co], 2) as tf.Tensor4D;

    it(`dW matches cpu: ${label}`, async () => {
      await expectSame('Conv2DBackpropFilter', () => {
        const xs = x();
        return tf.grad((ff: tf.Tensor) => weightedConv(xs, ff as tf.Tensor4D, s, pad))(f());
      });
    });

    it(`dx matches cpu: ${label}`, async () => {
      await expectSame('Conv2DBackpropInput', () => {
        const fs = f();
        return tf.grad((xx: tf.Tensor) => weightedConv(xx as tf.Tensor4D, fs, s, pad))(x());
      });
    });
  }

  it('dx falls back to the stock kernel for explicit padding wider than the filter', async () => {
    const pad: Pad = [
      [0, 0],
      [3, 0],
      [0, 2],
      [0, 0],
    ];
    await expectSame('Conv2DBackpropInput', () => {
      const fs = random([2, 2, 2, 3], 4) as tf.Tensor4D;
      return tf.grad((xx: tf.Tensor) => weightedConv(xx as tf.Tensor4D, fs, 1, pad))(random([2, 6, 5, 2], 3));
    });
  });

  it('rejects NCHW like the other wasm conv kernels', () => {
    const x = tf.zeros([1, 2, 4, 4]);
    const dy = tf.zeros([1, 3, 4, 4]);
    const attrs = { strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 2, 3] };
    expect(() => tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, attrs)).toThrow(/NHWC/);
    tf.dispose([x, dy]);
  });
});

describe('MaxPoolGrad on wasm', () => {
  // [batch, height, width, channels, filterSize, stride, pad]
  const cases: [number, number, number, number, number, number, 'valid' | 'same'][] = [
    [2, 8, 8, 3, 2, 2, 'valid'],
    [2, 7, 9, 3, 2, 2, 'valid'],
    [2, 7, 7, 3, 2, 2, 'same'],
    [2, 9, 7, 3, 3, 2, 'same'],
    [1, 7, 7, 4, 3, 1, 'same'],
  ];
  for (const [n, h, w, c, f, s, pad] of cases) {
    it(`matches cpu: ${n}x${h}x${w}x${c}, ${f}x${f}, stride ${s}, ${pad}`, async () => {
      const weighted = (xx: tf.Tensor): tf.Scalar => {
        const y = tf.maxPool(xx as tf.Tensor4D, f, s, pad);
        return tf.sum(tf.mul(y, random(y.shape, 7)));
      };
      await expectSame('MaxPoolGrad', () => tf.grad(weighted)(random([n, h, w, c], 5)));
    });
  }

  it('gives a tied window gradient to its first maximum, like cpu', async () => {
    // Relu outputs pool many all-zero windows.
    const x = (): tf.Tensor => tf.relu(random([2, 6, 8, 3], 6));
    for (const [f, s] of [
      [2, 2],
      [3, 1],
    ] as const) {
      const weighted = (xx: tf.Tensor): tf.Scalar => {
        const y = tf.maxPool(xx as tf.Tensor4D, f, s, 'same');
        return tf.sum(tf.mul(y, random(y.shape, 8)));
      };
      await expectSame('MaxPoolGrad', () => tf.grad(weighted)(x()));
    }
  });
  it('skips windows of NaN and -Infinity, like cpu', async () => {
    const special = [NaN, -Infinity, 0.5, NaN];
    for (const [f, s] of [
      [2, 2],
      [2, 1],
    ] as const) {
      const weighted = (xx: tf.Tensor): tf.Scalar => {
        const y = tf.maxPool(xx as tf.Tensor4D, f, s, 'valid');
        return tf.sum(tf.mul(y, random(y.shape, 9)));
      };
      await expectSame('MaxPoolGrad', () => {
        const base = values(2 * 4 * 6 * 2, 10).map((v, i) => (i % 7 === 0 ? special[i % 4]! : v));
        // All-NaN and all -Infinity windows too.
        base.fill(NaN, 0, 8).fill(-Infinity, 24, 36);
        return tf.grad(weighted)(tf.tensor(base, [2, 4, 6, 2]));
      });
    }
  });
});

describe('Tile on wasm', () => {
  const cases: [number[], number[]][] = [
    [
      [1, 1, 1, 5],
      [2, 3, 4, 1],
    ],
    [
      [2, 3],
      [2, 2],
    ],
    [[3], [4]],
    [
      [2, 1, 3],
      [1, 5, 2],
    ],
    [
      [2, 3, 4],
      [3, 1, 2],
    ],
    [
      [2, 0, 3],
      [2, 2, 2],
    ],
  ];
  for (const [shape, reps] of cases) {
    it(`matches cpu for ${JSON.stringify(shape)} x ${JSON.stringify(reps)} (float32, int32)`, async () => {
      await expectSame('Tile', () => tf.tile(random(shape, 9), reps));
      await expectSame('Tile', () => tf.tile(tf.mul(random(shape, 9), 100).toInt(), reps).toFloat());
    });
  }

  it('matches cpu for bool and scalars', async () => {
    await expectSame('Tile', () => tf.tile(tf.tensor([true, false, true], [3, 1], 'bool'), [2, 3]).toFloat());
    await expectSame('Tile', () => tf.tile(tf.scalar(3), []));
  });
});

describe('Sum and Mean on wasm', () => {
  // [shape, axes, keepDims]; the last ones are not leading axes and go to the stock kernels.
  const cases: [number[], number[], boolean][] = [
    [[4, 5, 6, 3], [0, 1, 2], false],
    [[4, 5, 6, 3], [0, 1, 2], true],
    [[4, 5, 6, 3], [1, 0], false],
    [[16, 32, 32, 8], [0, 1, 2], false],
    [[7, 4], [0], true],
    [[3, 4, 5], [1, 2], false],
    [[3, 4, 5], [0, 1, 2], false],
    [[4, 0, 3], [0], false],
  ];
  for (const [shape, axes, keepDims] of cases) {
    it(`match cpu for ${JSON.stringify(shape)} over ${JSON.stringify(axes)}${keepDims ? ', keepDims' : ''}`, async () => {
      // Offset data so that sums do not cancel to ~0, which would hide relative error.
      const x = (): tf.Tensor => tf.add(random(shape, 11), 0.5);
      await expectSame('Sum', () => tf.sum(x(), axes, keepDims));
      await expectSame('Mean', () => tf.mean(x(), axes, keepDims));
    });
  }

  it('keep sums of integer-valued floats exact, like cpu', () => {
    for (const shape of [
      [3, 5, 7, 2],
      [4, 4, 4, 3],
      [12, 10, 3],
    ]) {
      const ints = values(tf.util.sizeFromShape(shape), 13).map((v) => Math.floor(v * 10));
      const cols = shape.at(-1)!;
      const expected = Array.from({ length: cols }, (_, c) =>
        ints.reduce((s, v, i) => (i % cols === c ? s + v : s), 0),
      );
      const axes = shape.slice(0, -1).map((_, i) => i);
      const got = tf.tidy(() => tf.sum(tf.tensor(ints, shape), axes).dataSync());
      expect(Array.from(got)).toEqual(expected);
      expect(Array.from(tf.tidy(() => tf.mean(tf.ones(shape), axes).dataSync()))).toEqual(
        Array(cols).fill(1),
      );
    }
  });

  it('leave int32 sums to the stock kernel', async () => {
    await expectSame('Sum', () =>
      tf
        .sum(
          tf.tensor(
            [
              [1, 2],
              [3, 4],
            ],
            [2, 2],
            'int32',
          ),
          0,
        )
        .toFloat(),
    );
  });
});

describe('FusedBatchNorm on wasm', () => {
  // [x shape, statistics shape, with scale and offset]; the last one is per element (stock).
  const cases: [number[], number[], boolean][] = [
    [[2, 5, 6, 3], [3], true],
    [[2, 5, 6, 3], [1, 1, 1, 3], true],
    [[4, 7], [7], false],
    [[2, 3, 4, 2], [2, 3, 4, 2], true],
  ];
  for (const [shape, statShape, affine] of cases) {
    it(`matches cpu for x ${JSON.stringify(shape)}, statistics ${JSON.stringify(statShape)}`, async () => {
      await expectSame('FusedBatchNorm', () => {
        const x = tf.add(tf.mul(random(shape, 31), 3), 2);
        const mean = tf.add(random(statShape, 32), 2);
        const variance = tf.add(random(statShape, 33), 1.5);
        const [offset, scale] = affine
          ? [random(statShape, 34), random(statShape, 35)]
          : [undefined, undefined];
        return tf.batchNorm(x, mean, variance, offset, scale, 1e-3);
      });
    });
  }
});

describe('Identity on wasm', () => {
  it('shares data safely: a clone outlives its source', () => {
    const backend = tf.backend() as BackendWasm;
    const ids = backend.numDataIds();
    const a = tf.tensor([1, 2, 3]);
    const b = tf.clone(a);
    a.dispose();
    expect(Array.from(b.dataSync())).toEqual([1, 2, 3]);
    b.dispose();
    expect(backend.numDataIds()).toBe(ids);
  });
});

describe('stock kernels stay reachable', () => {
  it('useReplacementKernels swaps between stock and ours', async () => {
    expect([...REPLACED_KERNELS].sort()).toEqual(
      [
        tf.Conv2DBackpropInput,
        tf.FusedBatchNorm,
        tf.Identity,
        tf.MaxPoolGrad,
        tf.Mean,
        tf.Sum,
        tf.Tile,
      ].sort(),
    );
    const ours = REPLACED_KERNELS.map(wasmKernelFunc);
    useReplacementKernels(false);
    try {
      REPLACED_KERNELS.forEach((name, i) => expect(wasmKernelFunc(name)).not.toBe(ours[i]));
      // The stock backend has no dW at all, so ours stays.
      expect(wasmKernelFunc(tf.Conv2DBackpropFilter)).toBeDefined();
      await expectSame('Conv2DBackpropInput', () => {
        const fs = random([3, 3, 2, 3], 2) as tf.Tensor4D;
        return tf.grad((xx: tf.Tensor) => weightedConv(xx as tf.Tensor4D, fs, 1, 'same'))(
          random([2, 5, 5, 2], 1),
        );
      });
    } finally {
      useReplacementKernels(true);
    }
    REPLACED_KERNELS.forEach((name, i) => expect(wasmKernelFunc(name)).toBe(ours[i]));
  });
});

describe('training a small CNN on wasm', () => {
  function model(): tf.LayersModel {
    const init = (seed: number) => tf.initializers.glorotUniform({ seed });
    const m = tf.sequential();
    m.add(
      tf.layers.conv2d({
        inputShape: [16, 16, 1],
        filters: 4,
        kernelSize: 3,
        padding: 'same',
        kernelInitializer: init(1),
      }),
    );
    m.add(tf.layers.batchNormalization());
    m.add(tf.layers.activation({ activation: 'relu' }));
    m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    m.add(
      tf.layers.conv2d({
        filters: 6,
        kernelSize: 3,
        strides: 2,
        padding: 'same',
        kernelInitializer: init(2),
      }),
    );
    m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    m.add(tf.layers.flatten());
    m.add(tf.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: init(3) }));
    return m;
  }
  const xs = (): tf.Tensor => random([8, 16, 16, 1], 21);
  const ys = (): tf.Tensor =>
    tf.tensor(
      values(8, 22).map((v) => (v > 0 ? 1 : 0)),
      [8, 1],
    );

  it('leaks no tensor and no wasm memory over 20 steps', async () => {
    const backend = tf.backend() as BackendWasm;
    const m = model();
    m.compile({ optimizer: tf.train.adam(1e-2), loss: 'binaryCrossentropy' });
    const [x, y] = [xs(), ys()];
    const counts: [number, number][] = [];
    const losses: number[] = [];
    for (let step = 1; step <= 20; step++) {
      losses.push((await m.trainOnBatch(x, y)) as number);
      if (step === 1 || step === 20) counts.push([tf.memory().numTensors, backend.numDataIds()]);
    }
    expect(counts[1]).toEqual(counts[0]);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses.at(-1)!).toBeLessThan(losses[0]!);
    tf.dispose([x, y]);
    m.dispose();
  });

  it('takes the same SGD step as cpu', async () => {
    const flatWeights = (m: tf.LayersModel): Float32Array =>
      tf.tidy(() => tf.concat(m.getWeights().map((w) => w.flatten())).dataSync() as Float32Array);
    /** The change of every weight (batch-norm moving statistics included) in one step. */
    const update = async (): Promise<Float32Array> => {
      const m = model();
      m.compile({ optimizer: tf.train.sgd(0.1), loss: 'binaryCrossentropy' });
      const [x, y] = [xs(), ys()];
      const before = flatWeights(m);
      await m.trainOnBatch(x, y);
      const after = flatWeights(m);
      tf.dispose([x, y]);
      m.dispose();
      return after.map((v, i) => v - before[i]!);
    };
    await tf.setBackend('cpu');
    const cpu = await update();
    await tf.setBackend('wasm');
    const wasm = await update();
    const err = relativeError(cpu, wasm);
    worst.set('training step', err);
    expect(err).toBeLessThan(TOLERANCE);
  });
});
