import { describe, expect, it } from 'vitest';
import {
  comparisonSentence,
  describeCrop,
  refreshAblations,
  refreshLosoSentences,
  seedSpreadSentences,
  unseenHeadline,
  refreshComparisons,
  sameRecipe,
  shadingOf,
  summaryFromCard,
  recipeOf,
  type ModelSummary,
} from '../../src/evaluation/compare.js';
import type { ModelCard } from '../../src/model/card.js';

const base = (
  version: string,
  crop: string,
  unseen: Record<string, number | null>,
  auc: number,
): ModelSummary => ({
  version,
  crop,
  photoAugment: 'none',
  test: {
    n: 100,
    positives: 50,
    auc,
    auc_ci: [auc - 0.05, auc + 0.05],
    sensitivity: 0.9,
    specificity: 0.6,
    accuracy: 0.75,
    ppv: 0.7,
    npv: 0.85,
    brier: 0.2,
    ece: 0.05,
  },
  covidVsPneumonia: 0.8,
  withoutPediatric: 0.7,
  heatmapOutsideLungs: 0.6,
  unseen,
});

describe('comparisonSentence', () => {
  it('says which model generalises better on the collections both left out, not by internal AUC', () => {
    const lungs = base('a', 'lung box + 10% margin', { raddb: 0.69, ieee: 0.6 }, 0.86);
    const centre = base('b', 'central 90%', { raddb: 0.64, ieee: 0.58, only_b: 0.9 }, 0.87);
    const sentence = comparisonSentence(lungs, centre);
    expect(sentence).toContain('test AUC 0.860 vs 0.870');
    expect(sentence).toContain('raddb 0.690 vs 0.640, ieee 0.600 vs 0.580');
    expect(sentence).not.toContain('only_b');
    expect(sentence).toContain('kept for its figures on collections left out of training');
    expect(comparisonSentence(centre, lungs)).toContain('the other model does better');
    expect(comparisonSentence(base('c', 'x', {}, 0.9), centre)).toContain('was not compared');
    // The photo figure, once both models have one.
    expect(sentence).not.toContain('phone photos');
    const photos = comparisonSentence({ ...lungs, photoChange: 0.125 }, { ...centre, photoChange: 0.133 });
    expect(photos).toContain('mean change in probability on simulated phone photos 0.125 vs 0.133');
    expect(comparisonSentence({ ...lungs, photoChange: 0.125 }, centre)).not.toContain('phone photos');
  });

  it('does not call a gap inside the seed spread of the recipe a difference', () => {
    const shipped = { ...base('a', 'lung box', { raddb: 0.674 }, 0.88), unseenSpread: { raddb: 0.136 } };
    const close = comparisonSentence(shipped, base('b', 'lung box', { raddb: 0.647 }, 0.9));
    expect(close).toContain("inside the range this model's recipe shows across seeds");
    expect(close).not.toContain('kept for its figures');
    const far = comparisonSentence(shipped, base('c', 'lung box', { raddb: 0.513 }, 0.82));
    expect(far).toContain('kept for its figures on collections left out of training');
  });

  it('lets seeds both recipes were run with decide, even when each gap is inside the spread', () => {
    const withSeeds = (version: string, bySeed: Record<string, number>) => ({
      ...base(version, 'lung box', { raddb: bySeed['42'] ?? null }, 0.94),
      unseenSpread: { raddb: Math.max(...Object.values(bySeed)) - Math.min(...Object.values(bySeed)) },
      unseenBySeed: { raddb: bySeed },
    });
    const plain = withSeeds('a', { '42': 0.77, '7': 0.79 });
    const paired = withSeeds('b', { '42': 0.767, '7': 0.737 });
    const ahead = comparisonSentence(plain, paired);
    expect(ahead).toContain(
      "raddb averages 0.780 with this model's recipe and 0.752 with that one's over seeds 7, 42: higher with every seed, so this model was kept",
    );
    expect(ahead).not.toContain('inside the range');
    expect(comparisonSentence(paired, plain)).toContain('lower with every seed: the other model does better');
    const mixed = comparisonSentence(plain, withSeeds('c', { '42': 0.8, '7': 0.7 }));
    expect(mixed).toContain('neither is ahead with every seed, so those figures do not tell the two apart');
    // One seed in common is not a comparison seed by seed: the spread rule decides.
    const oneShared = comparisonSentence(plain, withSeeds('d', { '42': 0.767, '3': 0.75 }));
    expect(oneShared).toContain("inside the range this model's recipe shows across seeds");
  });
});

describe('describeCrop', () => {
  it('names the crop in words', () => {
    const card = (preprocessing: Partial<ModelCard['preprocessing']>) =>
      ({ preprocessing: { crop: 0.9, ...preprocessing } }) as ModelCard;
    expect(describeCrop(card({}))).toBe('central 90%');
    expect(describeCrop(card({ lungs: { model: 'l', crop: true, margin: 0.1 } }))).toBe(
      'lung box + 10% margin',
    );
    expect(describeCrop(card({ lungs: { model: 'l', crop: false, margin: 0.1 } }))).toBe(
      'central 90% + lung check',
    );
    expect(
      describeCrop(card({ contrast: 'normalise-lungs', lungs: { model: 'l', crop: true, margin: 0.1 } })),
    ).toBe('lung box + 10% margin, contrast stretched over the lungs');
    expect(
      describeCrop(
        card({ contrast: 'normalise-lungs', lungs: { model: 'l', crop: true, margin: 0.1, mask: true } }),
      ),
    ).toBe('lung box + 10% margin, lung fields only, contrast stretched over the lungs');
    expect(
      describeCrop(
        card({ contrast: 'normalise-lungs-gamma', lungs: { model: 'l', crop: true, margin: 0.1 } }),
      ),
    ).toBe('lung box + 10% margin, contrast stretched over the lungs, their median at mid-grey');
  });
});

describe('summaryFromCard', () => {
  it('reads the figures an earlier evaluation wrote into a card', () => {
    const card = {
      version: 'old',
      architecture: 'default',
      preprocessing: { crop: 0.9, size: 96 },
      training: { photoAugment: '0.3 of draws use a simulated phone photo' },
      metrics: {
        test: { n: 10, positives: 4, auc: 0.8, auc_ci: [0.7, 0.9] },
        covidVsPneumonia: { auc: 0.6 },
        withoutPediatric: null,
        heatmapOutsideLungs: { meanOutside: 0.5 },
        loso: {
          raddb: { auc: 0.64 },
          same: { auc: 0.61, photoAugment: '0.3 of draws use a simulated phone photo', epochs: 10 },
          other: { auc: 0.7, photoAugment: 'none', epochs: 10 },
        },
      },
    } as unknown as ModelCard;
    card.training = { ...card.training, epochs: 10 };
    const s = summaryFromCard(card);
    expect(s).toMatchObject({
      version: 'old',
      network: 'default CNN, 96 px',
      crop: 'central 90%',
      photoAugment: '0.3 of draws',
      covidVsPneumonia: 0.6,
      withoutPediatric: null,
      heatmapOutsideLungs: 0.5,
    });
    // Entries of another recipe are not this model's figures; entries without a recipe are kept.
    expect(s.unseen).toEqual({ raddb: 0.64, same: 0.61 });
    expect(s.test.auc).toBe(0.8);
    expect(s.test.sensitivity).toBeNull();
    // A model trained with the photo consistency loss says so in a few words.
    const paired = { ...card, training: { photoAugment: 'paired: every draw is the image and ...' } };
    expect(summaryFromCard(paired as ModelCard).photoAugment).toBe(
      'each draw paired with its photo, consistency loss',
    );
    // Its weight, and where and what it weighs, when the description gives them.
    const weighed = {
      ...card,
      training: {
        photoAugment:
          "paired: every draw is the image and a simulated phone photo of it, with a consistency loss (weight 3) on the gap between their probabilities, moving only the photo's (one photo per image, ...)",
      },
    };
    expect(summaryFromCard(weighed as ModelCard).photoAugment).toBe(
      "each draw paired with its photo, consistency loss 3, on probabilities, moving only the photo's answer",
    );
    // Cards since the fields were recorded: the fields, not the wording, say what the loss was.
    const recorded = {
      ...card,
      training: {
        photoAugment: 'paired: reworded, with nothing to match',
        photoConsistency: { weight: 0.03, space: 'logit', target: 'image' },
      },
    };
    expect(summaryFromCard(recorded as ModelCard).photoAugment).toBe(
      "each draw paired with its photo, consistency loss 0.03, moving only the photo's answer",
    );
    // Two recipes that differ only in the recorded space are two recipes.
    const inSpace = (space: string) => ({
      photoAugment: 'paired: the same words',
      photoConsistency: { weight: 3, space, target: 'pair' },
    });
    expect(sameRecipe(inSpace('probability'), inSpace('probability'))).toBe(true);
    expect(sameRecipe(inSpace('probability'), inSpace('logit'))).toBe(false);
    // An older figure that only describes the loss matches a card that records the same one.
    expect(
      sameRecipe(
        {
          photoAugment:
            'paired: every draw is the image and a simulated phone photo of it, with a consistency loss (weight 3) on the gap between their probabilities',
        },
        inSpace('probability'),
      ),
    ).toBe(true);
    // Several photos per image (--photo-views) is another recipe, and the summary says so.
    const views = {
      ...card,
      training: {
        photoAugment: '0.5 of draws use a simulated phone photo of the image (3 photos per image, ...)',
      },
    };
    expect(summaryFromCard(views as ModelCard).photoAugment).toBe('0.5 of draws, 3 photos per image');
    // So does one trained with uneven light (--shading); the left-out figures above, all from
    // before it existed, are another recipe's.
    const shaded = { ...card, training: { ...card.training, augmentation: { rotate: 7, shading: 0.5 } } };
    const shadedSummary = summaryFromCard(shaded as ModelCard);
    expect(shadedSummary.photoChange).toBeNull();
    const measured = { ...card, metrics: { ...card.metrics, phonePhoto: { meanAbsDelta: 0.133 } } };
    expect(summaryFromCard(measured as ModelCard).photoChange).toBe(0.133);
    expect(shadedSummary.photoAugment).toBe('0.3 of draws, uneven light on 0.5 of draws');
    expect(shadedSummary.unseen).toEqual({});
  });
});

describe('refreshComparisons', () => {
  it("makes the card's comparison sentences again from its figures, e.g. after a new left-out collection", () => {
    const seed = { ...base('seed', 'central 100%', { raddb: 0.5 }, 0.95), network: 'seed CNN, 64 px' };
    const card = {
      version: 'new',
      architecture: 'default',
      preprocessing: { crop: 0.9, size: 96, lungs: { model: 'l', crop: true, margin: 0.1 } },
      limitations: ['A limit.', `Compared with model seed (stale sentence).`],
      metrics: {
        test: { n: 100, positives: 50, auc: 0.9, auc_ci: [0.85, 0.95] },
        loso: { raddb: { auc: 0.7 } },
        comparedWith: [seed],
      },
    } as unknown as ModelCard;
    const refreshed = refreshComparisons(card);
    expect(refreshed.limitations).toHaveLength(2);
    expect(refreshed.limitations[0]).toBe('A limit.');
    const sentence = refreshed.limitations[1] ?? '';
    expect(sentence).toContain('Compared with model seed (network: seed CNN, 64 px;');
    // The networks differ, so this model's is named too.
    expect(sentence).toContain('this model (network: default CNN, 96 px; crop:');
    expect(sentence).toContain('raddb 0.700 vs 0.500');
    expect(sentence).toContain('kept for its figures on collections left out of training');
    // Without compared models the card is left as it is.
    expect(refreshComparisons({ ...card, metrics: {} } as ModelCard)).toEqual({ ...card, metrics: {} });
  });
});

describe('refreshAblations', () => {
  it('says in one sentence per collection what leaving each step out did there', () => {
    const card = {
      limitations: [
        'A limit.',
        'What each data-path step does on raddb left out of training (AUC there): stale.',
      ],
      metrics: {
        ablations: {
          raddb: [
            { without: ['source-balance'], auc: 0.58, auc_ci: [0.56, 0.6], epochs: 10, photoAugment: 'none' },
            // Older rows hold the share as a number.
            { without: [], auc: 0.69, auc_ci: [0.67, 0.71], photoAugment: 0 },
          ],
        },
      },
    } as unknown as ModelCard;
    expect(refreshAblations(card).limitations).toEqual([
      'A limit.',
      'What each data-path step does on raddb left out of training (each model trained 10 epochs, photo augmentation none), AUC there: full recipe 0.690 (0.670-0.710), without source-balance 0.580 (0.560-0.600).',
    ]);
  });
});

describe('unseenHeadline', () => {
  it("names the left-out collection with both labels and the lowest AUC, of the card's own recipe", () => {
    const card = {
      preprocessing: { contrast: 'normalise' },
      training: { photoAugment: '0.3 of draws use ...', epochs: 10 },
      metrics: {
        loso: {
          // Only COVID-19 images: an AUC there means nothing.
          covidOnly: { auc: 0.2, n: 50, positives: 50 },
          raddb: { auc: 0.67, n: 2400, positives: 1200, photoAugment: '0.3 of draws use ...', epochs: 10 },
          // Another recipe's figure, lower, says nothing about this model.
          other: { auc: 0.55, n: 300, positives: 100, photoAugment: '0.5 of draws use ...', epochs: 16 },
          ieee: { auc: 0.69, n: 377, positives: 308 },
        },
      },
    } as unknown as ModelCard;
    expect(unseenHeadline(card)).toEqual({ source: 'raddb', auc: 0.67 });
    expect(unseenHeadline({ ...card, metrics: {} } as ModelCard)).toBeUndefined();
  });
});

describe('seedSpreadSentences and refreshLosoSentences', () => {
  it("say how much a left-out figure of the card's own recipe moved with the seed", () => {
    const recipe = { photoAugment: '0.3 of draws use ...', epochs: 10 };
    const card = {
      preprocessing: { contrast: 'normalise' },
      training: { ...recipe, seed: 42 },
      limitations: ['A limit.', 'Leave-one-source-out figures move with the seed (stale).'],
      metrics: {
        loso: { raddb: { auc: 0.674, n: 2400, positives: 1300, ...recipe } },
        losoSeeds: {
          raddb: [
            // A reworded description of the same recipe still counts.
            { seed: 7, auc: 0.538, photoAugment: '0.3 of draws (reworded)', epochs: 10 },
            // Another recipe's run does not count.
            { seed: 7, auc: 0.3, photoAugment: 'paired: ...', epochs: 10 },
          ],
          // One seed alone says nothing about the spread.
          ieee: [{ seed: 7, auc: 0.6, ...recipe }],
        },
      },
    } as unknown as ModelCard;
    expect(seedSpreadSentences(card)).toEqual([
      "Leave-one-source-out figures move with the seed of the split and the training: with this model's recipe, trained without raddb, it scored 0.674 (seed 42), 0.538 (seed 7) there: a range of 0.538-0.674, mean 0.606. A gap between recipes smaller than this range, in the comparisons and ablations above, is not evidence, unless both recipes were run with the same seeds and one is ahead with every seed.",
    ]);
    // A comparison reads the same figures seed by seed.
    expect(summaryFromCard(card).unseenBySeed).toEqual({ raddb: { '42': 0.674, '7': 0.538 } });
    const refreshed = refreshLosoSentences(card).limitations;
    expect(refreshed).toHaveLength(2);
    expect(refreshed[0]).toBe('A limit.');
    expect(refreshed[1]).toContain('0.674 (seed 42), 0.538 (seed 7)');
  });
});

describe('sameRecipe', () => {
  it('tells recipes apart by their uneven-light share; figures from before it existed had none', () => {
    const recipe = { photoAugment: '0.3 of draws use ...', epochs: 10 };
    const shaded = {
      training: { ...recipe, augmentation: { rotate: 7, shading: 0.5 } },
    } as unknown as ModelCard;
    const plain = { training: { ...recipe, augmentation: { rotate: 7 } } } as unknown as ModelCard;
    expect([shadingOf(shaded), shadingOf(plain), shadingOf({} as ModelCard)]).toEqual([0.5, 0, 0]);
    expect(sameRecipe({ ...recipe, shading: 0.5 }, { ...recipe, shading: shadingOf(shaded) })).toBe(true);
    expect(sameRecipe(recipe, { ...recipe, shading: shadingOf(shaded) })).toBe(false);
    expect(sameRecipe(recipe, { ...recipe, shading: shadingOf(plain) })).toBe(true);
    expect(sameRecipe({ ...recipe, shading: 0.5 }, recipe)).toBe(false);
  });

  it('tells a fine-tuned model (--init-from) from one trained from scratch; older figures were not', () => {
    const card = (training: Record<string, unknown>) =>
      ({ preprocessing: { contrast: 'normalise-lungs-gamma' }, training }) as unknown as ModelCard;
    const tuned = recipeOf(card({ maxEpochs: 8, initFrom: '20261127-1633-default' }));
    const scratch = recipeOf(card({ maxEpochs: 8 }));
    expect([tuned.fineTuned, scratch.fineTuned]).toEqual([true, false]);
    expect(sameRecipe(tuned, scratch)).toBe(false);
    expect(sameRecipe(recipeOf(card({ maxEpochs: 8, initFrom: 'another' })), tuned)).toBe(true);
    const { fineTuned: _, ...older } = scratch;
    expect(sameRecipe(older, scratch)).toBe(true);
    expect(sameRecipe(older, tuned)).toBe(false);
  });
});

describe('recipeOf', () => {
  it('names the maximum epochs (early stopping ends runs of one recipe at different epochs) and the contrast step', () => {
    const card = {
      preprocessing: { contrast: 'normalise-lungs' },
      training: { photoAugment: '0.5 of draws use ...', epochs: 17, maxEpochs: 30 },
    } as unknown as ModelCard;
    const recipe = recipeOf(card);
    expect(recipe).toMatchObject({ epochs: 30, contrast: 'normalise-lungs' });
    // A left-out run of the same recipe that stopped at epoch 22 is the same recipe.
    const run = { ...card, training: { ...card.training, epochs: 22 } } as unknown as ModelCard;
    expect(sameRecipe(recipeOf(run), recipe)).toBe(true);
    // Figures from before the contrast step was recorded were all 'normalise': not this recipe.
    expect(sameRecipe({ photoAugment: '0.5 of draws use ...', epochs: 30 }, recipe)).toBe(false);
    const plain = { ...card, preprocessing: { contrast: 'normalise' } } as unknown as ModelCard;
    expect(sameRecipe({ photoAugment: '0.5 of draws use ...', epochs: 30 }, recipeOf(plain))).toBe(true);
    // Cards from before maxEpochs ran every epoch they were given.
    const old = { ...plain, training: { photoAugment: '0.3 of draws', epochs: 10 } } as unknown as ModelCard;
    expect(recipeOf(old).epochs).toBe(10);
  });

  it('names the learning-rate schedule; figures from before it existed were constant', () => {
    const card = {
      preprocessing: { contrast: 'normalise' },
      training: { photoAugment: '0.5 of draws use ...', maxEpochs: 60, learningRateSchedule: 'cosine' },
    } as unknown as ModelCard;
    const cosine = recipeOf(card);
    expect(cosine.learningRateSchedule).toBe('cosine');
    const before = { photoAugment: '0.5 of draws use ...', epochs: 60, contrast: 'normalise' };
    expect(sameRecipe(before, cosine)).toBe(false);
    expect(sameRecipe({ ...before, learningRateSchedule: 'cosine' }, cosine)).toBe(true);
    const constant = { ...card, training: { ...card.training, learningRateSchedule: undefined } };
    expect(sameRecipe(before, recipeOf(constant as unknown as ModelCard))).toBe(true);
  });

  it('names the network; figures from before it was recorded were the default one', () => {
    const card = {
      architecture: 'wide',
      preprocessing: { contrast: 'normalise' },
      training: { photoAugment: '0.5 of draws use ...', maxEpochs: 45 },
    } as unknown as ModelCard;
    const wide = recipeOf(card);
    expect(wide.architecture).toBe('wide');
    const before = { photoAugment: '0.5 of draws use ...', epochs: 45, contrast: 'normalise' };
    expect(sameRecipe(before, wide)).toBe(false);
    expect(sameRecipe({ ...before, architecture: 'wide' }, wide)).toBe(true);
    expect(sameRecipe(before, recipeOf({ ...card, architecture: 'default' }))).toBe(true);
  });
});
