import { describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { DEFAULT_PHOTO_AUGMENT, DEFAULT_PHOTO_VIEWS } from '../../src/training/pipeline.js';
import {
  positiveInt,
  withArchitectureOption,
  withPhotoTrainingOptions,
  withScheduleOption,
} from '../../scripts/lib/training-options.js';

/** The options `train` and `loso` share, parsed as either script parses them. */
function parse(args: string[]): Record<string, unknown> {
  const command = withArchitectureOption(withScheduleOption(withPhotoTrainingOptions(new Command())))
    .option('--epochs <n>', 'maximum epochs', positiveInt, 10)
    .exitOverride()
    .configureOutput({ writeErr: () => undefined });
  return command.parse(args, { from: 'user' }).opts();
}

describe("the training scripts' shared options", () => {
  it('default to the recipe', () => {
    expect(parse([])).toEqual({
      photoAugment: DEFAULT_PHOTO_AUGMENT,
      photoViews: DEFAULT_PHOTO_VIEWS,
      shading: 0,
      photoConsistency: 0,
      consistencyTarget: 'pair',
      consistencySpace: 'logit',
      lrSchedule: 'constant',
      architecture: 'default',
      epochs: 10,
    });
  });

  it('parse numbers', () => {
    expect(parse(['--photo-views', '3', '--photo-augment', '0.5', '--epochs', '30'])).toMatchObject({
      photoViews: 3,
      photoAugment: 0.5,
      epochs: 30,
    });
    expect(parse(['--lr-schedule', 'cosine'])).toMatchObject({ lrSchedule: 'cosine' });
    expect(parse(['--architecture', 'wide'])).toMatchObject({ architecture: 'wide' });
    expect(parse(['--consistency-target', 'image'])).toMatchObject({ consistencyTarget: 'image' });
    expect(parse(['--consistency-space', 'probability'])).toMatchObject({
      consistencySpace: 'probability',
    });
  });

  it('refuse what is not a number of the right kind, saying which argument', () => {
    expect(() => parse(['--photo-augment', 'abc'])).toThrow(/argument 'abc' is invalid\. Not a number/);
    expect(() => parse(['--photo-views', '0'])).toThrow(/argument '0' is invalid/);
    expect(() => parse(['--photo-views', '1.5'])).toThrow(/whole number/);
    expect(() => parse(['--epochs', ''])).toThrow(/invalid/);
    expect(() => parse(['--lr-schedule', 'linear'])).toThrow(/Allowed choices are constant, cosine/);
    expect(() => parse(['--architecture', 'huge'])).toThrow(
      /Allowed choices are seed, default, wide, smooth/,
    );
    expect(() => parse(['--consistency-target', 'photo'])).toThrow(/Allowed choices are pair, image/);
    expect(() => parse(['--consistency-space', 'odds'])).toThrow(/Allowed choices are logit, probability/);
  });
});
