/**
 * `npm run evaluate -- --model <dir> --data <dir> [--json] [--update-card]`: honest metrics for a
 * model on any supported dataset layout: AUC with bootstrap CI, threshold metrics, calibration,
 * per source, COVID-19 vs other pneumonia, without pediatric images; Markdown + JSON + PNG plots.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import { loadConfig } from '../src/config.js';
import {
  comparisonSentence,
  modelSummary,
  summaryFromCard,
  type ModelSummary,
} from '../src/evaluation/compare.js';
import { readCard } from '../src/model/card.js';
import {
  evaluateModel,
  describePhotos,
  describeRejections,
  updateCardWithEvaluation,
  writeEvaluationFiles,
} from '../src/evaluation/evaluate.js';
import { fmt } from '../src/evaluation/figures.js';
import type { Split } from '../src/training/datasets.js';
import { DEFAULT_CACHE_DIR } from '../src/training/input-cache.js';

interface Options {
  model?: string;
  data: string;
  split: Split | 'all';
  out?: string;
  negatives: string;
  source?: string[];
  json: boolean;
  updateCard: boolean;
  simulatePhoto: boolean;
  lungsDir?: string;
  handMasks: string;
  compareWith: string[];
  cache: string | false;
  quiet: boolean;
}

const program = new Command()
  .name('npm run evaluate --')
  .description('Evaluate a model on a dataset and write a report with plots.')
  .option('--model <dir>', 'model directory (default: MODEL_DIR or model/)')
  .option(
    '--data <dir>',
    'dataset: class folders, metadata.csv + images/, or a manifest CSV',
    path.resolve('../shared/data'),
  )
  .addOption(
    new Option('--split <name>', 'split to score when the data has splits')
      .choices(['train', 'val', 'test', 'all'])
      .default('test'),
  )
  .option(
    '--negatives <dir>',
    'non-chest-X-ray images (manifest.csv: file,kind) for the gate figures',
    path.resolve('../shared/data/negatives'),
  )
  .option('--out <dir>', 'report folder (default: reports/<model version>)')
  .option('--json', 'print one JSON object with the overall metrics (auc, auc_ci, sensitivity, ...)', false)
  .option('--update-card', "write the figures into the model's card.json", false)
  .option(
    '--simulate-photo',
    'also score a simulated phone photo (film on a light box or monitor) of each image: AUC drop and mean |change in probability|',
    false,
  )
  .option('--lungs-dir <dir>', 'lung model for the heatmap metric (default: lungs/ in the model directory)')
  .option(
    '--hand-masks <dir>',
    'lung-mask data set with classifier_overlap.csv: checks the heatmap metric against hand-drawn masks',
    path.resolve('../shared/data/lungmasks'),
  )
  .option(
    '--compare-with <dir...>',
    'earlier candidates (e.g. the other crop), from the figures their cards hold for the same split; with --update-card the card says how they compare',
    [],
  )
  .option('--cache <dir>', 'prepared-input cache shared with npm run train', DEFAULT_CACHE_DIR)
  .option('--no-cache', 'prepare every image afresh')
  .option('--quiet', 'no progress bar', false)
  .action(run);

async function run(o: Options): Promise<void> {
  const config = loadConfig();
  const modelDir = path.resolve(o.model ?? config.modelDir);
  const bar =
    o.quiet || o.json || !process.stderr.isTTY
      ? undefined
      : new cliProgress.SingleBar(
          { format: 'scoring |{bar}| {value}/{total} ETA {eta_formatted}' },
          cliProgress.Presets.shades_classic,
        );
  try {
    let started = false;
    const result = await evaluateModel({
      modelDir,
      data: path.resolve(o.data),
      split: o.split,
      outDir: undefined,
      sources: o.source,
      negatives: existsSync(o.negatives) ? path.resolve(o.negatives) : undefined,
      backend: config.backend,
      simulatePhoto: o.simulatePhoto,
      cache: o.cache === false ? undefined : path.resolve(o.cache),
      lungsDir: o.lungsDir === undefined ? undefined : path.resolve(o.lungsDir),
      handMasks: existsSync(path.join(o.handMasks, 'classifier_overlap.csv'))
        ? path.resolve(o.handMasks)
        : undefined,
      onProgress: (done, total) => {
        if (bar === undefined) return;
        // A new total is the next phase (the simulated photos): restart the bar.
        if (!started || total !== bar.getTotal()) bar.start(total, 0);
        started = true;
        bar.update(done);
      },
    }).then(async (r) => {
      bar?.stop();
      // Written after scoring so the report folder can default to the model's version.
      const outDir = path.resolve(o.out ?? path.join('reports', r.modelVersion));
      r.files = await writeEvaluationFiles(outDir, r, modelDir);
      return r;
    });
    // Earlier candidates are compared from their cards' recorded figures (same split, same data).
    const mine = modelSummary(result, await readCard(modelDir));
    const others: ModelSummary[] = [];
    for (const dir of o.compareWith) others.push(summaryFromCard(await readCard(path.resolve(dir))));
    for (const other of others) console.log(comparisonSentence(mine, other));
    if (o.updateCard) await updateCardWithEvaluation(modelDir, result, others);
    if (o.json) {
      console.log(
        JSON.stringify({
          model: result.modelVersion,
          split: result.split,
          ...result.overall,
          per_source: result.perSource,
          covid_vs_pneumonia: result.covidVsPneumonia,
          without_pediatric: result.withoutPediatric,
          ...(result.photo === undefined ? {} : { phone_photo: result.photo }),
          ...(result.heatmap === undefined ? {} : { heatmap: result.heatmap }),
          ...(result.gate === undefined ? {} : { gate: result.gate }),
        }),
      );
      return;
    }
    const m = result.overall;
    console.log(`Model ${result.modelVersion} on ${result.split} (${m.n} images, ${m.positives} COVID-19):`);
    console.log(
      `  AUC ${fmt(m.auc)} (95% CI ${fmt(m.auc_ci[0])}-${fmt(m.auc_ci[1])}), sensitivity ${fmt(m.sensitivity)}, specificity ${fmt(m.specificity)}, accuracy ${fmt(m.accuracy)}, ECE ${fmt(m.ece)}`,
    );
    if (result.covidVsPneumonia)
      console.log(
        `  COVID-19 vs other pneumonia: AUC ${fmt(result.covidVsPneumonia.auc)} (n ${result.covidVsPneumonia.n})`,
      );
    if (result.withoutPediatric)
      console.log(
        `  without pediatric images: AUC ${fmt(result.withoutPediatric.auc)} (n ${result.withoutPediatric.n})`,
      );
    for (const [source, s] of Object.entries(result.perSource)) {
      console.log(
        `  ${source}: n ${s.n}, AUC ${fmt(s.auc)}, sensitivity ${fmt(s.sensitivity)}, specificity ${fmt(s.specificity)}`,
      );
    }
    if (result.photo) console.log(`  simulated phone photos: ${describePhotos(result.photo)}`);
    if (result.heatmap !== undefined) {
      const h = result.heatmap;
      console.log(
        `  heatmap mass outside the ${h.mask === 'lungs' ? 'lungs' : 'thorax box'}: ${fmt(h.meanOutside)} (an even map: ${fmt(h.uniformOutside)}; n ${h.n})` +
          (h.handMasks === undefined
            ? ''
            : `; with hand-drawn masks ${fmt(h.handMasks.meanOutsideHand)} vs predicted ${fmt(h.handMasks.meanOutsidePredicted)} on ${h.handMasks.n} images (Dice ${fmt(h.handMasks.meanDice)})`),
      );
    }
    const gate = result.gate;
    if (gate !== undefined) {
      const neg = gate.negativeRejection;
      const photos = gate.negativePhotoRejection;
      console.log(
        `  gate: accepts ${gate.xrayAcceptance.count}/${gate.xrayAcceptance.n} X-rays` +
          (neg === undefined ? '' : `; rejects ${describeRejections(neg)} negatives`) +
          (photos === undefined ? '' : `, as simulated photos ${describeRejections(photos)}`) +
          (gate.head === undefined
            ? ''
            : ` [head fitted on real negatives: in-sample if these are they; cross-validated ${gate.head.crossValidated?.rejected ?? '–'}/${gate.head.crossValidated?.n ?? '–'}]`),
      );
      const l = gate.lungSignal;
      if (l !== undefined)
        console.log(
          `  lung check (${l.inUse ? 'in use' : 'measured only'}): negatives rejected ${l.negativesRejected.without} -> ${l.negativesRejected.with} of ${l.negativesRejected.n}, X-rays accepted ${l.xraysAccepted.without} -> ${l.xraysAccepted.with} of ${l.xraysAccepted.n}`,
        );
    }
    console.log(
      `Report: ${result.files?.report ?? ''}${o.updateCard ? `; card updated: ${path.join(modelDir, 'card.json')}` : ''}`,
    );
  } catch (error) {
    bar?.stop();
    console.error(`Evaluation failed: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}

await program.parseAsync();
