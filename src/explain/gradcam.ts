import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from '../tf/backend.js';

/**
 * Grad-CAM (Selvaraju et al. 2017) on the layer the card names: the class-activation map is the
 * ReLU of the activations weighted by the spatially averaged gradient of the COVID-19 logit.
 * `explainer.run` gives the prediction and the map from one forward pass; the backward pass only
 * covers the small head after the explained layer.
 */
export interface Explainer {
  /**
   * Probability (raw sigmoid output), features (input of the last layer) and, when `withMap`,
   * the map (h x w, 0..1; empty otherwise).
   */
  run(
    input: tfTypes.Tensor4D,
    withMap: boolean,
  ): Promise<{ probability: number; features: Float32Array; cam: Float32Array; camSize: [number, number] }>;
}

export function createExplainer(model: tfTypes.LayersModel, layerName: string): Explainer {
  const layer = model.getLayer(layerName);
  const index = model.layers.indexOf(layer);
  const head = model.layers.slice(index + 1);
  const last = model.layers.at(-1);
  if (head.length === 0 || last === undefined)
    throw new Error(`Layer ${layerName} has nothing after it to explain.`);
  // Both our architectures are chains after the explained layer; apply the head eagerly.
  const features = last.input as tfTypes.SymbolicTensor;
  const trunk = tf.model({
    inputs: model.inputs,
    outputs: [layer.output as tfTypes.SymbolicTensor, features],
  });
  const applyHead = (a: tfTypes.Tensor) => head.reduce((t, l) => l.apply(t) as tfTypes.Tensor, a);
  const logitOf = (a: tfTypes.Tensor) => {
    const p = tf.clipByValue(applyHead(a), 1e-7, 1 - 1e-7);
    return tf.sum(tf.sub(tf.log(p), tf.log(tf.sub(1, p))));
  };
  const gradient = tf.grad(logitOf);

  return {
    async run(input, withMap) {
      const [activations, feats] = trunk.predict(input) as tfTypes.Tensor[];
      if (activations === undefined || feats === undefined)
        throw new Error('Explainer trunk gave no output.');
      const out = tf.tidy(() => {
        const prob = applyHead(activations);
        if (!withMap) return [prob, tf.zeros([0])];
        const grads = gradient(activations);
        const weights = tf.mean(grads, [1, 2], true); // [1, 1, 1, C]
        const cam = tf.relu(tf.sum(tf.mul(activations, weights), -1)); // [1, h, w]
        const scaled = tf.div(cam, tf.maximum(tf.max(cam), 1e-8));
        return [prob, scaled];
      });
      const [prob, cam] = out as [tfTypes.Tensor, tfTypes.Tensor];
      const [, h = 1, w = 1] = activations.shape;
      const result = {
        probability: (await prob.data())[0] ?? Number.NaN,
        features: (await feats.data()) as Float32Array,
        cam: (await cam.data()) as Float32Array,
        camSize: [h, w] as [number, number],
      };
      tf.dispose([activations, feats, prob, cam]);
      return result;
    },
  };
}
