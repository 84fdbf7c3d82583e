import { describe, expect, it } from 'vitest';
import { initBackend, tf } from '../../src/tf/backend.js';
import { ARCHITECTURES, buildArchitecture, EXPLAIN_LAYER, WIDE_FILTERS } from '../../src/model/architectures.js';

describe('buildArchitecture', () => {
  it('builds every named network with the layer Grad-CAM explains and one probability out', async () => {
    await initBackend();
    const widths: Record<string, number> = {};
    for (const name of ARCHITECTURES) {
      const model = buildArchitecture(name, 32);
      const explained = model.getLayer(EXPLAIN_LAYER).outputShape as number[];
      widths[name] = explained.at(-1) ?? 0;
      const out = tf.tidy(() => model.predict(tf.fill([2, 32, 32, 1], 0.5)) as tf.Tensor);
      expect(out.shape).toEqual([2, 1]);
      out.dispose();
      model.dispose();
    }
    // The wide network is the default with more filters in every block, not another shape.
    expect(widths['wide']).toBe(WIDE_FILTERS.at(-1));
    expect(widths['wide']).toBeGreaterThan(widths['default'] ?? Infinity);
  });
});
