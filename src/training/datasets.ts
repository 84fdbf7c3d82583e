/**
 * Dataset loaders for training and evaluation. Three layouts are detected automatically:
 *
 * - `folders`:  one folder per class (`covid/`, `normal/`, `pneumonia/`), optionally below
 *               `train/`, `val/`, `test/` folders that give the split;
 * - `metadata`: the COVID-19 image data collection (ieee8023): `metadata.csv` + `images/`;
 * - `manifest`: our own `manifest.csv` (file,label,source,patient_id,view,age_group,split,...),
 *               or any CSV file with at least `file` and `label` columns.
 *
 * Loaders only read file names and CSVs (and check that image files exist); no pixels are decoded.
 */
import { access, readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';

export type ClassLabel = 'covid' | 'normal' | 'pneumonia_other';
export type Split = 'train' | 'val' | 'test';
export type AgeGroup = 'adult' | 'pediatric' | 'unknown';
export type DatasetLayout = 'folders' | 'metadata' | 'manifest';

export const CLASS_LABELS: readonly ClassLabel[] = ['covid', 'normal', 'pneumonia_other'];
export const SPLITS: readonly Split[] = ['train', 'val', 'test'];
export const AGE_GROUPS: readonly AgeGroup[] = ['adult', 'pediatric', 'unknown'];

export interface Sample {
  /** Absolute path of the image file. */
  file: string;
  label: ClassLabel;
  /** 1 for COVID-19, 0 otherwise: the binary target of the model. */
  covid: 0 | 1;
  source: string;
  patientId: string;
  split?: Split;
  view?: string;
  ageGroup?: AgeGroup;
}

export interface Dataset {
  layout: DatasetLayout;
  /** Absolute folder that relative file names were resolved against. */
  root: string;
  samples: Sample[];
  /** Things skipped on the way (unsupported files, non-frontal views, ...), for the log. */
  warnings?: string[];
}

export class DatasetError extends Error {
  override readonly name = 'DatasetError';
}

export interface LoadDatasetOptions {
  /**
   * metadata layout: which non-COVID findings become negatives. Return undefined to skip the row.
   * Default: {@link defaultNegativeFindings}.
   */
  negativeFindings?: (finding: string) => ClassLabel | undefined;
  /** What to do with rows whose image file does not exist. Default 'error'. */
  missingFiles?: 'error' | 'skip';
  /** Force a layout instead of detecting it. */
  layout?: DatasetLayout;
}

/** Extensions we can decode (sharp for raster images, dicom-parser for .dcm). BMP/GIF are not. */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set([
  '.jpg',
  '.jpeg',
  '.png',
  '.webp',
  '.tif',
  '.tiff',
  '.dcm',
]);
/** Recognisably images, but not decodable by sharp; skipped with a warning instead of silently. */
const UNSUPPORTED_IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(['.bmp', '.gif']);

const FRONTAL_VIEWS: ReadonlySet<string> = new Set(['PA', 'AP', 'AP SUPINE']);
const IEEE8023_SOURCE = 'ieee8023';

export function isClassLabel(value: string): value is ClassLabel {
  return (CLASS_LABELS as readonly string[]).includes(value);
}

export function isSplit(value: string): value is Split {
  return (SPLITS as readonly string[]).includes(value);
}

export function covidTarget(label: ClassLabel): 0 | 1 {
  return label === 'covid' ? 1 : 0;
}

/** Default negative mapping for the ieee8023 metadata: "No Finding" and non-COVID pneumonia. */
export function defaultNegativeFindings(finding: string): ClassLabel | undefined {
  const normalized = finding.trim().toLowerCase();
  if (normalized === 'no finding') return 'normal';
  if (normalized.includes('pneumonia') && !normalized.includes('covid-19')) return 'pneumonia_other';
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------------------------

/** Loads a dataset from a folder (any layout) or directly from a manifest CSV file. */
export async function loadDataset(dir: string, options: LoadDatasetOptions = {}): Promise<Dataset> {
  const target = path.resolve(dir);
  const detected = await detectLayout(target);
  const layout = options.layout ?? detected.layout;
  let dataset: Dataset;
  switch (layout) {
    case 'manifest':
      dataset = await loadManifest(detected.csvPath ?? path.join(target, 'manifest.csv'), options);
      break;
    case 'metadata':
      dataset = await loadMetadata(detected.csvPath ?? path.join(target, 'metadata.csv'), options);
      break;
    case 'folders':
      dataset = await loadFolders(target);
      break;
  }
  if (dataset.samples.length === 0) {
    throw new DatasetError(`Dataset at ${target} (${layout} layout) contains no usable images.`);
  }
  return dataset;
}

interface DetectedLayout {
  layout: DatasetLayout;
  /** The CSV for the manifest/metadata layouts. */
  csvPath?: string;
}

export async function detectLayout(target: string): Promise<DetectedLayout> {
  const info = await stat(target).catch(() => undefined);
  if (info === undefined) throw new DatasetError(`Dataset path does not exist: ${target}`);
  if (info.isFile()) {
    if (path.extname(target).toLowerCase() !== '.csv') {
      throw new DatasetError(`Dataset path is a file but not a .csv: ${target}`);
    }
    const header = await readCsvHeader(target);
    // A metadata.csv given directly is recognised by its ieee8023 columns.
    if (header.includes('finding') && header.includes('filename')) {
      return { layout: 'metadata', csvPath: target };
    }
    return { layout: 'manifest', csvPath: target };
  }
  if (await fileExists(path.join(target, 'manifest.csv'))) {
    return { layout: 'manifest', csvPath: path.join(target, 'manifest.csv') };
  }
  if (await fileExists(path.join(target, 'metadata.csv'))) {
    return { layout: 'metadata', csvPath: path.join(target, 'metadata.csv') };
  }
  return { layout: 'folders' };
}

// ---------------------------------------------------------------------------------------------
// Layout 1: class folders
// ---------------------------------------------------------------------------------------------

const CLASS_FOLDER_ALIASES: Readonly<Record<string, ClassLabel>> = {
  covid: 'covid',
  covid19: 'covid',
  covid_19: 'covid',
  normal: 'normal',
  pneumonia: 'pneumonia_other',
  pneumonia_other: 'pneumonia_other',
  other_pneumonia: 'pneumonia_other',
  viral_pneumonia: 'pneumonia_other',
  bacterial_pneumonia: 'pneumonia_other',
};

const SPLIT_FOLDER_ALIASES: Readonly<Record<string, Split>> = {
  train: 'train',
  val: 'val',
  valid: 'val',
  validation: 'val',
  test: 'test',
};

/** `COVID-19`, `Viral Pneumonia` -> `covid_19`, `viral_pneumonia`. */
function folderKey(name: string): string {
  return name
    .trim()
    .toLowerCase()
    .replace(/[\s-]+/g, '_');
}

async function loadFolders(root: string): Promise<Dataset> {
  const entries = await readdir(root, { withFileTypes: true });
  const folders = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
  const source = path.basename(root);
  const warnings: string[] = [];
  const samples: Sample[] = [];

  const classFolders = folders.filter((name) => CLASS_FOLDER_ALIASES[folderKey(name)] !== undefined);
  const splitFolders = folders.filter((name) => SPLIT_FOLDER_ALIASES[folderKey(name)] !== undefined);
  if (classFolders.length === 0 && splitFolders.length === 0) {
    throw new DatasetError(
      `No dataset found in ${root}: expected manifest.csv, metadata.csv, or class folders ` +
        `(covid/, normal/, pneumonia/), optionally inside train/, val/, test/.`,
    );
  }
  rejectUnknownFolders(
    root,
    folders,
    [...classFolders, ...splitFolders],
    ', optionally inside train/, val/, test/',
  );

  for (const name of classFolders) {
    samples.push(...(await loadClassFolder(root, path.join(root, name), source, undefined, warnings)));
  }
  for (const splitName of splitFolders) {
    const split = SPLIT_FOLDER_ALIASES[folderKey(splitName)];
    const splitDir = path.join(root, splitName);
    const inner = (await readdir(splitDir, { withFileTypes: true }))
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name);
    const innerClasses = inner.filter((name) => CLASS_FOLDER_ALIASES[folderKey(name)] !== undefined);
    rejectUnknownFolders(splitDir, inner, innerClasses, '');
    for (const name of innerClasses) {
      samples.push(...(await loadClassFolder(root, path.join(splitDir, name), source, split, warnings)));
    }
  }
  return { layout: 'folders', root, samples, warnings };
}

/** Unknown folders are an error rather than silently ignored: they usually hold a class we would miss. */
function rejectUnknownFolders(parent: string, folders: string[], known: string[], hint: string): void {
  const unknown = folders.filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    throw new DatasetError(
      `Unknown class folder(s) in ${parent}: ${unknown.join(', ')}. ` +
        `Expected: covid, normal, pneumonia (or pneumonia_other)${hint}.`,
    );
  }
}

async function loadClassFolder(
  root: string,
  classDir: string,
  source: string,
  split: Split | undefined,
  warnings: string[],
): Promise<Sample[]> {
  const label = CLASS_FOLDER_ALIASES[folderKey(path.basename(classDir))];
  if (label === undefined) throw new DatasetError(`Not a class folder: ${classDir}`);
  const samples: Sample[] = [];
  for (const file of await listFilesRecursively(classDir)) {
    const extension = path.extname(file).toLowerCase();
    if (UNSUPPORTED_IMAGE_EXTENSIONS.has(extension)) {
      warnings.push(`Skipped ${file}: ${extension} images are not supported (convert to PNG).`);
      continue;
    }
    if (!IMAGE_EXTENSIONS.has(extension)) continue;
    // This layout carries no patient information, so every image counts as its own patient. The
    // id is the path relative to the root without extension (not just the stem), so that
    // `covid/1.png` and `normal/1.png` are not mistaken for one patient.
    const relative = path.relative(root, file);
    const patientId = `${source}_${relative
      .slice(0, relative.length - extension.length)
      .split(path.sep)
      .join('/')}`;
    samples.push(makeSample({ file, label, source, patientId, split }));
  }
  return samples;
}

async function listFilesRecursively(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await listFilesRecursively(full)));
    else if (entry.isFile()) files.push(full);
  }
  return files;
}

// ---------------------------------------------------------------------------------------------
// Layout 2: ieee8023 COVID-19 image data collection
// ---------------------------------------------------------------------------------------------

async function loadMetadata(csvPath: string, options: LoadDatasetOptions): Promise<Dataset> {
  const root = path.dirname(csvPath);
  const rows = await readCsvRecords(csvPath);
  requireColumns(csvPath, rows.columns, ['patientid', 'finding', 'view', 'filename']);
  const negativeFindings = options.negativeFindings ?? defaultNegativeFindings;
  const hasModality = rows.columns.includes('modality');
  const hasFolder = rows.columns.includes('folder');
  const skipped = { modality: 0, view: 0, finding: 0 };

  const samples: Sample[] = [];
  for (const row of rows.records) {
    if (hasModality && field(row, 'modality').toLowerCase() !== 'x-ray') {
      skipped.modality++;
      continue;
    }
    const view = field(row, 'view');
    if (!FRONTAL_VIEWS.has(view.toUpperCase())) {
      skipped.view++;
      continue;
    }
    const finding = field(row, 'finding');
    const label = finding.includes('COVID-19') ? 'covid' : negativeFindings(finding);
    if (label === undefined) {
      skipped.finding++;
      continue;
    }
    const folder = hasFolder ? field(row, 'folder') || 'images' : 'images';
    samples.push(
      makeSample({
        file: path.resolve(root, folder, field(row, 'filename')),
        label,
        source: IEEE8023_SOURCE,
        patientId: `${IEEE8023_SOURCE}_${field(row, 'patientid')}`,
        split: undefined,
        view,
      }),
    );
  }
  const warnings = [
    `${csvPath}: skipped ${skipped.modality} non-X-ray rows, ${skipped.view} non-frontal views, ` +
      `${skipped.finding} rows with findings that are neither COVID-19 nor a chosen negative.`,
  ];
  const present = await checkFilesExist(csvPath, samples, options.missingFiles ?? 'error', warnings);
  return { layout: 'metadata', root, samples: present, warnings };
}

// ---------------------------------------------------------------------------------------------
// Layout 3: manifest CSV
// ---------------------------------------------------------------------------------------------

async function loadManifest(csvPath: string, options: LoadDatasetOptions): Promise<Dataset> {
  const root = path.dirname(csvPath);
  const rows = await readCsvRecords(csvPath);
  requireColumns(csvPath, rows.columns, ['file', 'label']);
  const defaultSource = path.basename(root);
  const samples = rows.records.map((row, index) =>
    manifestRowToSample(csvPath, root, defaultSource, row, index),
  );
  const warnings: string[] = [];
  const present = await checkFilesExist(csvPath, samples, options.missingFiles ?? 'error', warnings);
  return { layout: 'manifest', root, samples: present, warnings };
}

function manifestRowToSample(
  csvPath: string,
  root: string,
  defaultSource: string,
  row: CsvRecord,
  index: number,
): Sample {
  // Line numbers for messages: +2 for the header line and 1-based counting.
  const where = `${csvPath} line ${index + 2}`;
  const file = field(row, 'file');
  if (file === '') throw new DatasetError(`${where}: empty file name.`);
  const label = field(row, 'label');
  if (!isClassLabel(label)) {
    throw new DatasetError(`${where}: unknown label "${label}" (expected ${CLASS_LABELS.join(', ')}).`);
  }
  const split = field(row, 'split');
  if (split !== '' && !isSplit(split)) {
    throw new DatasetError(`${where}: unknown split "${split}" (expected ${SPLITS.join(', ')} or empty).`);
  }
  const ageGroup = field(row, 'age_group');
  if (ageGroup !== '' && !(AGE_GROUPS as readonly string[]).includes(ageGroup)) {
    throw new DatasetError(`${where}: unknown age_group "${ageGroup}" (expected ${AGE_GROUPS.join(', ')}).`);
  }
  const absolute = path.resolve(root, file);
  const source = field(row, 'source') || defaultSource;
  // Without a patient_id column every image is its own patient (same rule as the folder layout).
  const patientId = field(row, 'patient_id') || `${source}_${file.replace(/\.[^./]+$/, '')}`;
  return makeSample({
    file: absolute,
    label,
    source,
    patientId,
    split: split === '' ? undefined : split,
    view: field(row, 'view') || undefined,
    ageGroup: ageGroup === '' ? undefined : (ageGroup as AgeGroup),
  });
}

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

interface SampleFields {
  file: string;
  label: ClassLabel;
  source: string;
  patientId: string;
  split: Split | undefined;
  view?: string | undefined;
  ageGroup?: AgeGroup | undefined;
}

/** Builds a Sample, leaving optional keys out instead of setting them to undefined. */
function makeSample(fields: SampleFields): Sample {
  const sample: Sample = {
    file: fields.file,
    label: fields.label,
    covid: covidTarget(fields.label),
    source: fields.source,
    patientId: fields.patientId,
  };
  if (fields.split !== undefined) sample.split = fields.split;
  if (fields.view !== undefined) sample.view = fields.view;
  if (fields.ageGroup !== undefined) sample.ageGroup = fields.ageGroup;
  return sample;
}

type CsvRecord = Record<string, string>;

interface CsvTable {
  columns: string[];
  records: CsvRecord[];
}

async function readCsvRecords(csvPath: string): Promise<CsvTable> {
  const text = await readFile(csvPath, 'utf8');
  let columns: string[] = [];
  let records: CsvRecord[];
  try {
    records = parse<CsvRecord>(text, {
      bom: true,
      skip_empty_lines: true,
      trim: true,
      // Keep the header as seen (trimmed) so that missing columns can be reported by name.
      columns: (header: string[]) => {
        columns = header.map((name) => name.trim());
        return columns;
      },
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new DatasetError(`Cannot parse ${csvPath}: ${reason}`, { cause: error });
  }
  return { columns, records };
}

async function readCsvHeader(csvPath: string): Promise<string[]> {
  const text = await readFile(csvPath, 'utf8');
  const firstLine = text.replace(/^\uFEFF/, '').split(/\r?\n/, 1)[0] ?? '';
  const header = parse(firstLine, { trim: true })[0] ?? [];
  return header;
}

function requireColumns(csvPath: string, columns: string[], required: string[]): void {
  const missing = required.filter((name) => !columns.includes(name));
  if (missing.length > 0) {
    throw new DatasetError(
      `${csvPath} lacks required column(s) ${missing.join(', ')} (found: ${columns.join(', ') || 'none'}).`,
    );
  }
}

function field(row: CsvRecord, name: string): string {
  return row[name] ?? '';
}

async function fileExists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/** Drops (or rejects) samples whose image file is missing; checks in parallel batches. */
async function checkFilesExist(
  csvPath: string,
  samples: Sample[],
  policy: 'error' | 'skip',
  warnings: string[],
): Promise<Sample[]> {
  const exists = await mapWithConcurrency(samples, 32, (sample) => fileExists(sample.file));
  const missing = samples.filter((_, i) => !exists[i]);
  if (missing.length === 0) return samples;
  const examples = missing
    .slice(0, 5)
    .map((s) => s.file)
    .join(', ');
  const summary = `${missing.length} of ${samples.length} image file(s) listed in ${csvPath} do not exist (e.g. ${examples})`;
  if (policy === 'error') throw new DatasetError(`${summary}.`);
  warnings.push(`${summary}; skipped.`);
  return samples.filter((_, i) => exists[i]);
}

/** Runs `task` over `items` with at most `concurrency` promises in flight; keeps order. */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  concurrency: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  return results;
}
