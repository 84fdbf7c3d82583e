/** The phone-photo training options that `npm run train` and `npm run loso` share. */
import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULT_PHOTO_AUGMENT } from '../../src/training/pipeline.js';

/** A number option's value; commander reports anything else as an invalid argument. */
export function finiteNumber(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('Not a number.');
  return n;
}

/** Adds --photo-augment, --shading and --photo-consistency (parsed into photoAugment, shading, photoConsistency). */
export function withPhotoTrainingOptions(command: Command): Command {
  return command
    .option(
      '--photo-augment <share>',
      'share of draws that use a simulated phone photo of the image (0: off)',
      finiteNumber,
      DEFAULT_PHOTO_AUGMENT,
    )
    .option(
      '--shading <share>',
      'share of draws lit unevenly (gradient, vignetting, glare), as in phone photos of a film (0: off)',
      finiteNumber,
      0,
    )
    .option(
      '--photo-consistency <weight>',
      'pair every draw with its simulated phone photo and add this weight times the squared gap between their logits to the loss (0: off)',
      finiteNumber,
      0,
    );
}
