/**
 * Training-step benchmark of the wasm backend with the stock kernels vs our replacements
 * (src/tf/wasm-kernels.ts): a 4-block CNN (conv3x3 + batch norm + relu + max pool, global
 * average pool, dense sigmoid), batch 16 of 128x128x1. Conv2DBackpropFilter is ours in
 * both runs: the stock backend has none. Steps alternate between the two setups so that
 * load from other processes hits both alike. Reported: median and best wall time per step,
 * median process CPU time, and the best of 3 profiled steps per kernel (tf.profile, wall).
 *
 *   npx tsx scripts/bench-kernels.ts            (STEPS=9 for more rounds)
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import {
  REPLACED_KERNELS,
  registerWasmTrainingKernels,
  useReplacementKernels,
} from '../src/tf/wasm-kernels.js';

const STEPS = Number(process.env['STEPS'] ?? 5);
const BATCH = 16;
const SIZE = 128;
const FILTERS = [16, 32, 64, 128];
const SETUPS = { stock: false, ours: true } as const;
type Setup = keyof typeof SETUPS;
type Step = () => Promise<number | number[]>;

function buildModel(): tf.LayersModel {
  const model = tf.sequential();
  FILTERS.forEach((filters, i) => {
    const input = i === 0 ? { inputShape: [SIZE, SIZE, 1] } : {};
    model.add(tf.layers.conv2d({ ...input, filters, kernelSize: 3, padding: 'same', useBias: false }));
    model.add(tf.layers.batchNormalization());
    model.add(tf.layers.activation({ activation: 'relu' }));
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  });
  model.add(tf.layers.globalAveragePooling2d({}));
  model.add(tf.layers.dense({ units: 1, activation: 'sigmoid' }));
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'binaryCrossentropy' });
  return model;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

/** Wall and process-CPU milliseconds of one step. */
async function timeStep(step: Step): Promise<[number, number]> {
  const cpu = process.cpuUsage();
  const start = performance.now();
  await step();
  const used = process.cpuUsage(cpu);
  return [performance.now() - start, (used.user + used.system) / 1000];
}

/** Milliseconds and calls per kernel name in one profiled step. */
async function kernelTimes(step: Step): Promise<Map<string, [number, number]>> {
  const profile = await tf.profile(step);
  const totals = new Map<string, [number, number]>();
  for (const k of profile.kernels) {
    const [ms, calls] = totals.get(k.name) ?? [0, 0];
    totals.set(k.name, [ms + Number(k.kernelTimeMs), calls + 1]);
  }
  return totals;
}

async function main(): Promise<void> {
  registerWasmTrainingKernels();
  await tf.setBackend('wasm');
  const model = buildModel();
  const x = tf.randomNormal([BATCH, SIZE, SIZE, 1]);
  const y = tf.randomUniform([BATCH, 1]).round();
  const step: Step = () => model.trainOnBatch(x, y);

  const setups = Object.entries(SETUPS) as [Setup, boolean][];
  const times: Record<Setup, [number, number][]> = { stock: [], ours: [] };
  const profiles: Record<Setup, Map<string, [number, number]>[]> = { stock: [], ours: [] };
  for (const [, enabled] of setups) {
    useReplacementKernels(enabled);
    await step(); // warm-up: XNNPACK operators, wasm memory growth
  }
  for (let i = 0; i < STEPS; i++) {
    for (const [setup, enabled] of setups) {
      useReplacementKernels(enabled);
      times[setup].push(await timeStep(step));
      if (i < 3) profiles[setup].push(await kernelTimes(step));
    }
  }

  const title = `training step, ${FILTERS.length} conv blocks, batch ${BATCH} of ${SIZE}x${SIZE}x1`;
  console.log(`${title}, ${STEPS} steps each:`);
  for (const setup of Object.keys(SETUPS) as Setup[]) {
    const wall = times[setup].map(([w]) => w);
    const cpu = median(times[setup].map(([, c]) => c));
    const [med, best] = [median(wall), Math.min(...wall)].map((ms) => ms.toFixed(0).padStart(6));
    console.log(
      `  ${setup.padEnd(5)} median ${med} ms/step, best ${best} ms (median cpu ${cpu.toFixed(0)} ms)`,
    );
  }
  console.log(`per kernel, ms per step (calls), best of ${profiles.ours.length} profiled steps:`);
  console.log(`  ${'kernel'.padEnd(22)} ${'stock'.padStart(14)} ${'ours'.padStart(14)}`);
  const cell = (setup: Setup, name: string): string => {
    const runs = profiles[setup].map((p) => p.get(name)).filter((t) => t !== undefined);
    const text = runs.length ? `${Math.min(...runs.map(([ms]) => ms)).toFixed(1)} (${runs[0]![1]})` : '-';
    return text.padStart(14);
  };
  for (const name of [tf.Conv2DBackpropFilter, ...REPLACED_KERNELS]) {
    console.log(`  ${name.padEnd(22)} ${cell('stock', name)} ${cell('ours', name)}`);
  }
  tf.dispose([x, y]);
  model.dispose();
}

await main();
