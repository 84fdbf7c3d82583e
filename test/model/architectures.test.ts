import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { initBackend, tf } from '../../src/tf/backend.js';
import {
  ARCHITECTURES,
  buildArchitecture,
  DEEP_FILTERS,
  downsample,
  EXPLAIN_LAYER,
  SMOOTH_SIGMA,
  WIDE_FILTERS,
} from '../../src/model/architectures.js';
import { loadModel, saveModel } from '../../src/model/io.js';

describe('buildArchitecture', () => {
  it('builds every named network with the layer Grad-CAM explains and one probability out', async () => {
    await initBackend();
    const widths: Record<string, number> = {};
    const sides: Record<string, number> = {};
    for (const name of ARCHITECTURES) {
      const model = buildArchitecture(name, 32);
      const explained = model.getLayer(EXPLAIN_LAYER).outputShape as number[];
      widths[name] = explained.at(-1) ?? 0;
      sides[name] = explained[1] ?? 0;
      const out = tf.tidy(() => model.predict(tf.fill([2, 32, 32, 1], 0.5)) as tf.Tensor);
      expect(out.shape).toEqual([2, 1]);
      out.dispose();
      model.dispose();
    }
    // The wide network is the default with more filters in every block, not another shape.
    expect(widths['wide']).toBe(WIDE_FILTERS.at(-1));
    expect(widths['wide']).toBeGreaterThan(widths['default'] ?? Infinity);
    // The deep network adds a block: its last map is half the default's side, so each cell sees more.
    expect(widths['deep']).toBe(DEEP_FILTERS.at(-1));
    expect(sides['deep']).toBe((sides['default'] ?? 0) / 2);
  });
});

describe('the smooth network', () => {
  it('blurs its input with a fixed Gaussian that training leaves alone and saving keeps', async () => {
    await initBackend();
    const model = buildArchitecture('smooth', 32);
    const blur = model.getLayer('input_blur');
    expect(blur.trainable).toBe(false);
    // An impulse comes out as the kernel: peak in the middle, falling off, summing to one.
    const probe = tf.model({ inputs: model.inputs, outputs: blur.output as tf.SymbolicTensor });
    const impulse = tf.buffer([1, 32, 32, 1]);
    impulse.set(1, 0, 16, 16, 0);
    const spread = (await (probe.predict(impulse.toTensor()) as tf.Tensor).data()) as Float32Array;
    const at = (y: number, x: number) => spread[y * 32 + x] ?? Number.NaN;
    expect(spread.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    expect(at(16, 16)).toBeCloseTo(1 / (2 * Math.PI * SMOOTH_SIGMA ** 2), 2);
    expect(at(16, 17)).toBeLessThan(at(16, 16));
    expect(at(16, 17)).toBeCloseTo(at(17, 16), 6);
    expect(at(16, 20)).toBeLessThan(at(16, 17));

    const kernelBefore = await blur.getWeights()[0]?.data();
    model.compile({ optimizer: tf.train.adam(0.01), loss: 'binaryCrossentropy' });
    const xs = tf.randomUniform([4, 32, 32, 1], 0, 1, 'float32', 7);
    await model.trainOnBatch(xs, tf.tensor2d([[0], [1], [0], [1]]));
    expect(await blur.getWeights()[0]?.data()).toEqual(kernelBefore);

    const dir = await mkdtemp(path.join(os.tmpdir(), 'smooth-'));
    try {
      await saveModel(model, dir);
      const loaded = await loadModel(dir);
      const before = await (model.predict(xs) as tf.Tensor).data();
      const after = await (loaded.predict(xs) as tf.Tensor).data();
      expect(Array.from(after)).toEqual(Array.from(before));
      expect(await loaded.getLayer('input_blur').getWeights()[0]?.data()).toEqual(kernelBefore);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the anti-aliased network', () => {
  it('halves a feature map so that a one-pixel shift moves what comes out far less than a max-pool', async () => {
    await initBackend();
    const input = tf.input({ shape: [16, 16, 1] });
    const halve = (antialias: boolean) =>
      tf.model({ inputs: input, outputs: downsample(input, antialias) });
    const impulseAt = (x: number) => {
      const b = tf.buffer([1, 16, 16, 1]);
      b.set(1, 0, 8, x, 0);
      return b.toTensor();
    };
    // The largest change in the halved map when a bright pixel moves one step to the right.
    const worstShift = async (antialias: boolean) => {
      const model = halve(antialias);
      let worst = 0;
      for (let x = 3; x < 12; x++) {
        const change = tf.tidy(() => {
          const [a, b] = [impulseAt(x), impulseAt(x + 1)].map((t) => model.predict(t) as tf.Tensor);
          return tf.sum(tf.abs(tf.sub(a!, b!)));
        });
        worst = Math.max(worst, (await change.data())[0] ?? 0);
        change.dispose();
      }
      expect((model.outputShape as number[]).slice(1)).toEqual([8, 8, 1]);
      model.dispose();
      return worst;
    };
    const plain = await worstShift(false);
    const antialiased = await worstShift(true);
    // Max-pool: the pixel jumps a whole output cell every other step (a change of 2).
    expect(plain).toBeCloseTo(2, 5);
    // Anti-aliased: it slides over, a quarter or half of it moving one cell at each step.
    expect(antialiased).toBeCloseTo(1, 5);
    // Same weights as the default network: the blur is fixed, not learnt.
    const [antialiasedNet, defaultNet] = [buildArchitecture('antialiased', 32), buildArchitecture('default', 32)];
    expect(antialiasedNet.countParams()).toBe(defaultNet.countParams());
    antialiasedNet.dispose();
    defaultNet.dispose();
  });
});
