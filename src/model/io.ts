import { promises as fs } from 'node:fs';
import path from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from '../tf/backend.js';
import { XrayError } from '../core/errors.js';
import type { ModelCard } from './card.js';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_FILE = 'weights.bin';

/**
 * Saves a layers model as model.json + one weights file with plain `fs`, so neither saving nor
 * loading depends on tfjs-node's file:// handler.
 */
export async function saveModel(model: tfTypes.LayersModel, dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = artifacts.weightData;
      const buffers = weightData === undefined ? [] : Array.isArray(weightData) ? weightData : [weightData];
      const bytes = Buffer.concat(buffers.map((b) => Buffer.from(b)));
      const modelJson = {
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }],
      };
      await fs.writeFile(path.join(dir, WEIGHTS_FILE), bytes);
      await fs.writeFile(path.join(dir, MODEL_JSON), JSON.stringify(modelJson));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: bytes.length } };
    }),
  );
}

interface ModelJson {
  modelTopology: object;
  weightsManifest: { paths: string[]; weights: tfTypes.io.WeightsManifestEntry[] }[];
}

export async function loadModel(dir: string): Promise<tfTypes.LayersModel> {
  let json: ModelJson;
  try {
    json = JSON.parse(await fs.readFile(path.join(dir, MODEL_JSON), 'utf8')) as ModelJson;
  } catch (cause) {
    throw new XrayError('model_missing', `No readable ${MODEL_JSON} in ${dir}. Train a model with: npm run train`, {
      cause,
    });
  }
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const buffers = await Promise.all(
    json.weightsManifest.flatMap((g) => g.paths).map((p) => fs.readFile(path.join(dir, path.basename(p)))),
  );
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  try {
    return await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData }),
    );
  } catch (cause) {
    throw new XrayError('model_invalid', `The model in ${dir} could not be loaded.`, { cause });
  }
}

/** `loadModel`, then `checkModelMatchesCard`: a model that disagrees with its card is freed and refused. */
export async function loadModelForCard(dir: string, card: ModelCard): Promise<tfTypes.LayersModel> {
  const model = await loadModel(dir);
  try {
    checkModelMatchesCard(model, card);
  } catch (error) {
    model.dispose();
    throw error;
  }
  return model;
}

/** A model whose input or output shape disagrees with its card is refused. */
export function checkModelMatchesCard(model: tfTypes.LayersModel, card: ModelCard): void {
  const input = model.inputs[0]?.shape;
  const expected = [null, card.input.height, card.input.width, card.input.channels];
  if (model.inputs.length !== 1 || JSON.stringify(input) !== JSON.stringify(expected)) {
    throw new XrayError(
      'model_invalid',
      `The model's input shape ${JSON.stringify(input)} does not match its card (${JSON.stringify(expected)}).`,
    );
  }
  const output = model.outputs[0]?.shape;
  if (model.outputs.length !== 1 || JSON.stringify(output) !== JSON.stringify([null, 1])) {
    throw new XrayError('model_invalid', `The model must have one sigmoid output, got ${JSON.stringify(output)}.`);
  }
}
