import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from './wasm-kernels.js';

export type BackendName = 'node' | 'wasm' | 'cpu';

/** tfjs's own name for each backend we offer. */
const TFJS_NAME: Record<BackendName, string> = { node: 'tensorflow', wasm: 'wasm', cpu: 'cpu' };

let selected: Promise<BackendName> | undefined;

/**
 * Pick the fastest backend that loads: tfjs-node when it is installed (it is an optional
 * dependency whose install downloads libtensorflow, so it is usually absent), else wasm.
 * `preferred` (from TFJS_BACKEND) forces one. Idempotent per thread: later calls return the
 * first choice.
 */
export function initBackend(preferred?: BackendName): Promise<BackendName> {
  selected ??= select(preferred);
  return selected;
}

async function select(preferred?: BackendName): Promise<BackendName> {
  const order: BackendName[] = preferred ? [preferred] : ['node', 'wasm'];
  const failures: string[] = [];
  for (const name of order) {
    if (name === 'node' && !(await loadTfjsNode())) {
      failures.push('node: @tensorflow/tfjs-node is not installed or its native library did not load');
      continue;
    }
    if (name === 'wasm') registerWasmTrainingKernels();
    if (await tf.setBackend(TFJS_NAME[name])) {
      await tf.ready();
      return name;
    }
    failures.push(`${name}: tf.setBackend refused it`);
  }
  throw new Error(`No TensorFlow.js backend could be started (${failures.join('; ')}).`);
}

/**
 * The one guarded path to tfjs-node. Importing it registers the 'tensorflow' backend; a
 * missing package or a missing native binary both throw, and we fall back.
 */
async function loadTfjsNode(): Promise<boolean> {
  try {
    const moduleName = '@tensorflow/tfjs-node';
    await import(/* @vite-ignore */ moduleName);
    return (
      tf.findBackend('tensorflow') !== undefined || tf.engine().registryFactory['tensorflow'] !== undefined
    );
  } catch {
    return false;
  }
}

export function parseBackendName(value: string | undefined): BackendName | undefined {
  return value === 'node' || value === 'wasm' || value === 'cpu' ? value : undefined;
}

export { tf };
