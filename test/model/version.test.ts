import { describe, expect, it } from 'vitest';
import { modelVersion } from '../../src/model/version.js';

describe('modelVersion', () => {
  it('names a model by when it was made, to the second, and what it is', () => {
    expect(modelVersion('default', new Date('2026-12-04T20:46:12.345Z'))).toBe('20261204-204612-default');
  });

  it('gives two runs that end in the same minute different names', () => {
    const first = modelVersion('default', new Date('2026-12-04T20:46:12Z'));
    const second = modelVersion('default', new Date('2026-12-04T20:46:48Z'));
    expect(first).not.toBe(second);
  });
});
