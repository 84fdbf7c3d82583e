/**
 * Option parsing that `npm run train` and `npm run loso` share: number parsers, the network, the
 * learning-rate schedule and the phone-photo options.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ARCHITECTURES } from '../../src/model/architectures.js';
import { DEFAULT_PHOTO_AUGMENT, DEFAULT_PHOTO_VIEWS } from '../../src/training/pipeline.js';
import {
  CONSISTENCY_SPACES,
  CONSISTENCY_TARGETS,
  DEFAULT_CONSISTENCY_SPACE,
  DEFAULT_CONSISTENCY_TARGET,
} from '../../src/model/card.js';
import { LEARNING_RATE_SCHEDULES } from '../../src/training/trainer.js';

/** A number option's value; commander reports anything else as an invalid argument. */
export function finiteNumber(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('Not a number.');
  return n;
}

/** A whole number of at least 1; commander reports anything else as an invalid argument. */
export function positiveInt(v: string): number {
  const n = finiteNumber(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('Not a whole number of at least 1.');
  return n;
}

/** Adds --architecture (parsed into architecture). */
export function withArchitectureOption(command: Command): Command {
  return command.addOption(
    new Option('--architecture <name>', 'network').choices([...ARCHITECTURES]).default('default'),
  );
}

/** Adds --lr-schedule (parsed into lrSchedule). */
export function withScheduleOption(command: Command): Command {
  return command.addOption(
    new Option(
      '--lr-schedule <mode>',
      'learning rate over the run: constant, or cosine down to 0 at the last epoch',
    )
      .choices(LEARNING_RATE_SCHEDULES)
      .default('constant'),
  );
}

/**
 * Adds --photo-augment, --photo-views, --shading, --photo-consistency, --consistency-target and
 * --consistency-space (parsed into photoAugment, photoViews, shading, photoConsistency,
 * consistencyTarget, consistencySpace).
 */
export function withPhotoTrainingOptions(command: Command): Command {
  return command
    .option(
      '--photo-augment <share>',
      'share of draws that use a simulated phone photo of the image (0: off)',
      finiteNumber,
      DEFAULT_PHOTO_AUGMENT,
    )
    .option(
      '--photo-views <n>',
      'simulated phone photos made of each training image (a photo draw picks one)',
      positiveInt,
      DEFAULT_PHOTO_VIEWS,
    )
    .option(
      '--shading <share>',
      'share of draws lit unevenly (gradient, vignetting, glare), as in phone photos of a film (0: off)',
      finiteNumber,
      0,
    )
    .option(
      '--photo-consistency <weight>',
      'pair every draw with its simulated phone photo and add this weight times the squared gap between their answers to the loss (logits or probabilities: --consistency-space; 0: off)',
      finiteNumber,
      0,
    )
    .addOption(
      new Option(
        '--consistency-target <what>',
        "what the consistency loss moves: both logits (pair), or only the photo's towards the image's (image)",
      )
        .choices(CONSISTENCY_TARGETS)
        .default(DEFAULT_CONSISTENCY_TARGET),
    )
    .addOption(
      new Option(
        '--consistency-space <space>',
        'where the consistency loss weighs the gap: between the logits, or between the probabilities a user sees',
      )
        .choices(CONSISTENCY_SPACES)
        .default(DEFAULT_CONSISTENCY_SPACE),
    );
}
