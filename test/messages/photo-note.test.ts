import { describe, expect, it } from 'vitest';
import type { Prediction } from '../../src/core/result.js';
import { formatPoints, formatResult, LOCALES, messages, resultParts } from '../../src/messages/index.js';

// Telegram's caption limit: a reply with a heatmap is a photo whose caption is the whole text.
const TELEGRAM_CAPTION_LIMIT = 1024;

const prediction = (extra: Partial<Prediction> = {}): Prediction => ({
  accepted: true,
  probability: 0.42,
  label: 'not_covid',
  threshold: 0.5,
  modelVersion: '20261126-1741-default',
  photo: false,
  timings: { preprocessMs: 1, inferenceMs: 1, explainMs: 0, totalMs: 2 },
  ...extra,
});

describe('the note on phone photos of a film or screen', () => {
  it('is in the reply only when the image was a photo, with the measured change when known', () => {
    const en = messages('en');
    expect(resultParts(prediction()).photoNote).toBeUndefined();
    expect(formatResult(prediction())).not.toContain(en.result.photoNote());

    const measured = resultParts(prediction({ photo: true, photoChange: 0.111 }));
    expect(measured.photoNote).toBe(en.result.photoNote('11'));
    expect(measured.photoNote).toContain('11 percentage points');
    expect(formatResult(prediction({ photo: true, photoChange: 0.111 }))).toContain(measured.photoNote);

    const unmeasured = resultParts(prediction({ photo: true })).photoNote;
    expect(unmeasured).toBe(en.result.photoNote());
    expect(unmeasured).not.toMatch(/\d/);
  });

  it('writes percentage points in the reader’s language', () => {
    expect(formatPoints(0.111, 'en')).toBe('11');
    expect(formatPoints(0.004, 'en')).toBe('0.4');
    expect(formatPoints(0.004, 'es')).toBe('0,4');
    expect(resultParts(prediction({ photo: true, photoChange: 0.125 }), 'ru').photoNote).toContain(
      '13 п. п.',
    );
  });

  it('keeps the longest reply (photo note and heatmap caption) inside one Telegram caption in every language', () => {
    const longest = prediction({
      photo: true,
      photoChange: 0.111,
      heatmap: { png: new Uint8Array(8), width: 1, height: 1 },
    });
    for (const locale of LOCALES) {
      const text = formatResult(longest, locale);
      expect(text).toContain(messages(locale).result.photoNote(formatPoints(0.111, locale)));
      expect(text.length, locale).toBeLessThanOrEqual(TELEGRAM_CAPTION_LIMIT);
    }
  });
});
