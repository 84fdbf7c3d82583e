/**
 * `npm run classify -- <file...> [--json] [--heatmap <out.png>]`: the bot's answer for image
 * files, through the same classifier the bots use.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { createClassifier, type Classifier } from '../classifier/classifier.js';
import { loadConfig } from '../config.js';
import { isXrayError, toXrayError } from '../core/errors.js';
import type { ClassifyResult } from '../core/result.js';
import { formatError, formatPercent, messages, resultParts } from '../messages/index.js';

interface Options {
  json: boolean;
  heatmap?: string;
  lang: string;
}

const program = new Command()
  .name('npm run classify --')
  .description('Estimate the COVID-19 probability for chest X-ray images (research and education only).')
  .argument('<file...>', 'image files: JPEG, PNG, WebP, TIFF or DICOM')
  .option('--json', 'one JSON object per file', false)
  .option('--heatmap <out.png>', 'write the heatmap overlay the bots send (one file only)')
  .option('--lang <code>', 'language of the messages (en, es, ru)', 'en')
  .action(run);

async function run(files: string[], options: Options): Promise<void> {
  const config = loadConfig();
  if (options.heatmap !== undefined && files.length !== 1) {
    program.error('--heatmap needs exactly one input file');
  }
  let classifier: Classifier;
  try {
    classifier = await createClassifier({
      modelDir: config.modelDir,
      workers: Math.min(config.workers, files.length),
      queueLimit: Math.max(config.queueLimit, files.length),
      timeoutMs: config.classifyTimeoutMs,
      limits: { maxBytes: config.maxImageBytes, maxPixels: config.maxImagePixels },
      explain: options.heatmap !== undefined,
      backend: config.backend,
    });
  } catch (error) {
    const e = toXrayError(error);
    if (e.code === 'model_missing') {
      console.error(`No model in ${config.modelDir} yet: train one with npm run train (or set MODEL_DIR).`);
    } else {
      console.error(`Could not load the model in ${config.modelDir}: ${e.message}`);
    }
    process.exitCode = 2;
    return;
  }
  let failures = 0;
  try {
    const outcomes = await Promise.all(files.map((file) => classifyFile(classifier, file)));
    for (const [i, outcome] of outcomes.entries()) {
      const file = files[i] ?? '';
      if ('error' in outcome) failures++;
      printOutcome(file, outcome, options);
      if ('result' in outcome && outcome.result.accepted && outcome.result.heatmap && options.heatmap) {
        await fs.writeFile(options.heatmap, outcome.result.heatmap.png);
        if (!options.json) console.log(`Heatmap written to ${options.heatmap}`);
      }
    }
    if (!options.json) console.log(`\n⚠️ ${messages(options.lang).disclaimer}`);
  } finally {
    await classifier.close();
  }
  // A refusal ("not a chest X-ray") is an answer; only unreadable input is a failure.
  if (failures > 0) process.exitCode = 1;
}

type Outcome = { result: ClassifyResult } | { error: unknown };

async function classifyFile(classifier: Classifier, file: string): Promise<Outcome> {
  try {
    const bytes = await fs.readFile(file);
    return { result: await classifier.classify(bytes) };
  } catch (error) {
    return { error };
  }
}

function printOutcome(file: string, outcome: Outcome, options: Options): void {
  const name = path.basename(file);
  if ('error' in outcome) {
    const code = isXrayError(outcome.error) ? outcome.error.code : ioCode(outcome.error);
    const message =
      code === 'file_not_found' ? `Cannot read ${file}.` : formatError(outcome.error, options.lang);
    if (options.json) console.log(JSON.stringify({ file, error: code, message }));
    else console.error(`${name}: ${message}`);
    return;
  }
  const { result } = outcome;
  const parts = resultParts(result, options.lang);
  if (options.json) {
    const json = result.accepted
      ? {
          file,
          accepted: true,
          probability: round(result.probability),
          label: result.label,
          threshold: result.threshold,
          modelVersion: result.modelVersion,
          photo: result.photo,
          message: [parts.headline, parts.meaning, parts.photoNote].filter(Boolean).join(' '),
          timings: result.timings,
        }
      : {
          file,
          accepted: false,
          reason: result.reason,
          message: parts.headline,
          modelVersion: result.modelVersion,
        };
    console.log(JSON.stringify(json));
    return;
  }
  if (!result.accepted) {
    console.log(`${name}: ${parts.headline}`);
    return;
  }
  console.log(
    `${name}: ${formatPercent(result.probability, options.lang)} COVID-19 (${result.label}, threshold ${formatPercent(result.threshold, options.lang)}), model ${result.modelVersion}`,
  );
  if (parts.photoNote !== undefined) console.log(`  ${parts.photoNote}`);
}

function ioCode(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES' ? 'file_not_found' : 'internal';
}

function round(p: number): number {
  return Math.round(p * 1e6) / 1e6;
}

await program.parseAsync();
