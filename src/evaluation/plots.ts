/**
 * PNG plots for training and evaluation reports: vega-lite spec -> vega -> SVG -> PNG (sharp).
 * Specs carry their data inline; the vega loader refuses every file or network access.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import * as vega from 'vega';
import { compile } from 'vega-lite';
import type { Config, TopLevelSpec } from 'vega-lite';
import type { ReliabilityBin, RocPoint } from './metrics.js';

export interface RocCurveSeries {
  /** Legend entry, e.g. "val (AUC 0.91)". */
  name: string;
  points: readonly RocPoint[];
}

export interface TrainingHistoryEntry {
  epoch: number;
  loss: number;
  val_loss?: number;
  val_auc?: number;
}

export interface PlotOptions {
  title?: string;
  /** Width/height of one panel in CSS pixels. */
  width?: number;
  height?: number;
  /** Pixel density factor of the PNG (2 = twice the CSS size). Default 2. */
  scale?: number;
}

const FONT = 'DejaVu Sans';
const CONFIG: Config = {
  font: FONT,
  background: 'white',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 300 },
  title: { fontSize: 14 },
};

const DIAGONAL = {
  values: [
    { x: 0, y: 0 },
    { x: 1, y: 1 },
  ],
};
const DIAGONAL_LAYER = {
  data: DIAGONAL,
  mark: { type: 'line' as const, strokeDash: [4, 4], color: '#999', strokeWidth: 1 },
  encoding: {
    x: { field: 'x', type: 'quantitative' as const },
    y: { field: 'y', type: 'quantitative' as const },
  },
};

/** ROC curves of one or more models/splits, with the chance diagonal. */
export async function rocPlot(
  curves: readonly RocCurveSeries[],
  file: string,
  options: PlotOptions = {},
): Promise<string> {
  // NaN/Infinity thresholds are not needed for the plot; the row index keeps the path order
  // (vega-lite would otherwise sort by x and scramble vertical segments).
  const rows = curves.flatMap((curve) =>
    curve.points.map((p, i) => ({ name: curve.name, i, fpr: p.fpr, tpr: p.tpr })),
  );
  const unit = { type: 'quantitative' as const, scale: { domain: [0, 1] } };
  const spec: TopLevelSpec = {
    title: options.title ?? 'ROC curve',
    width: options.width ?? 360,
    height: options.height ?? 360,
    layer: [
      DIAGONAL_LAYER,
      {
        data: { values: rows },
        mark: { type: 'line', strokeWidth: 2 },
        encoding: {
          x: { field: 'fpr', ...unit, title: 'False positive rate (1 - specificity)' },
          y: { field: 'tpr', ...unit, title: 'True positive rate (sensitivity)' },
          color: { field: 'name', type: 'nominal', title: null, legend: { orient: 'bottom-right' } },
          order: { field: 'i', type: 'quantitative' },
        },
      },
    ],
    config: CONFIG,
  };
  return renderPng(spec, file, options.scale);
}

/** Reliability diagram (observed rate vs mean predicted probability) above a histogram of counts. */
export async function reliabilityPlot(
  bins: readonly ReliabilityBin[],
  file: string,
  options: PlotOptions = {},
): Promise<string> {
  const filled = bins.filter((bin) => bin.count > 0);
  const width = options.width ?? 360;
  const probability = { type: 'quantitative' as const, scale: { domain: [0, 1] } };
  const spec: TopLevelSpec = {
    title: options.title ?? 'Reliability diagram',
    vconcat: [
      {
        width,
        height: options.height ?? 360,
        layer: [
          DIAGONAL_LAYER,
          {
            data: { values: filled },
            mark: { type: 'line', point: { filled: true, size: 50 }, strokeWidth: 2 },
            encoding: {
              x: { field: 'meanProbability', ...probability, title: 'Mean predicted probability' },
              y: { field: 'observedRate', ...probability, title: 'Observed fraction of COVID-19' },
            },
          },
        ],
      },
      {
        width,
        height: 100,
        data: { values: [...bins] },
        // rect (not bar) so that x/x2 give the bin edges and y2 anchors the bar at zero.
        mark: { type: 'rect', color: '#8aa', stroke: 'white' },
        encoding: {
          x: { field: 'lower', ...probability, title: 'Predicted probability' },
          x2: { field: 'upper' },
          y: { field: 'count', type: 'quantitative', title: 'Images' },
          y2: { datum: 0 },
        },
      },
    ],
    config: CONFIG,
  };
  return renderPng(spec, file, options.scale);
}

/** Loss (and validation loss) per epoch, plus validation AUC when recorded. */
export async function trainingCurvesPlot(
  history: readonly TrainingHistoryEntry[],
  file: string,
  options: PlotOptions = {},
): Promise<string> {
  const lossRows = history.flatMap((entry) => [
    { epoch: entry.epoch, series: 'loss', value: entry.loss },
    ...(entry.val_loss === undefined
      ? []
      : [{ epoch: entry.epoch, series: 'val_loss', value: entry.val_loss }]),
  ]);
  const aucRows = history.flatMap((entry) =>
    entry.val_auc === undefined ? [] : [{ epoch: entry.epoch, value: entry.val_auc }],
  );
  const width = options.width ?? 320;
  const height = options.height ?? 260;
  // Whole epochs only: explicit tick values for short runs, integer formatting for long ones.
  const epochs = history.map((entry) => entry.epoch);
  const epochAxis = epochs.length <= 15 ? { values: epochs, format: 'd' } : { tickMinStep: 1, format: 'd' };
  const epoch = { field: 'epoch', type: 'quantitative' as const, title: 'Epoch', axis: epochAxis };
  const lossPanel = {
    width,
    height,
    title: 'Loss',
    data: { values: lossRows },
    mark: { type: 'line' as const, point: true },
    encoding: {
      x: epoch,
      y: { field: 'value', type: 'quantitative' as const, title: 'Loss', scale: { zero: false } },
      color: {
        field: 'series',
        type: 'nominal' as const,
        title: null,
        legend: { orient: 'top-right' as const },
      },
    },
  };
  const aucPanel = {
    width,
    height,
    title: 'Validation AUC',
    data: { values: aucRows },
    mark: { type: 'line' as const, point: { color: '#2a7' }, color: '#2a7' },
    encoding: {
      x: epoch,
      y: { field: 'value', type: 'quantitative' as const, title: 'AUC', scale: { zero: false } },
    },
  };
  const spec: TopLevelSpec = {
    title: options.title ?? 'Training curves',
    hconcat: aucRows.length > 0 ? [lossPanel, aucPanel] : [lossPanel],
    // Keeps the loss legend inside the loss panel instead of beside the whole figure.
    resolve: { legend: { color: 'independent' } },
    config: CONFIG,
  };
  return renderPng(spec, file, options.scale);
}

/** A vega loader that fails on any load: plots must not touch the network or the disk. */
function offlineLoader(): vega.Loader {
  const loader = vega.loader();
  const refuse = (uri: string): Promise<string> =>
    Promise.reject(new Error(`plots: refusing to load "${uri}"; specs must use inline data.`));
  loader.load = refuse;
  loader.http = refuse;
  loader.file = refuse;
  return loader;
}

/**
 * A vega logger that records errors and failed loads (which vega only warns about, rendering an
 * empty chart) so that `renderSvg` can fail loudly; other warnings go to the console.
 */
function collectingLogger(problems: string[]): vega.LoggerInterface {
  return vega.logger(vega.Warn, undefined, (method, _level, input) => {
    // vega passes the call's `arguments` object, typed as an array but not one.
    const text = Array.from(input as ArrayLike<unknown>, (part) => String(part)).join(' ');
    if (method === 'error' || text.startsWith('Loading failed')) problems.push(text);
    else console.warn(`vega: ${text}`);
  });
}

/** Renders a vega-lite spec to an SVG string; throws on vega errors and on any data loading. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const problems: string[] = [];
  const view = new vega.View(vega.parse(compile(spec).spec), {
    renderer: 'none',
    loader: offlineLoader(),
    logger: collectingLogger(problems),
  });
  try {
    const svg = await view.toSVG();
    if (problems.length > 0) throw new Error(`plots: rendering failed: ${problems.join('; ')}`);
    return svg;
  } finally {
    view.finalize();
  }
}

/** Renders the spec to `file` as PNG (parent folders created) and returns the path. */
export async function renderPng(spec: TopLevelSpec, file: string, scale = 2): Promise<string> {
  const svg = await renderSvg(spec);
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  // librsvg renders SVG at 72 dpi by default; a higher density gives a sharper PNG.
  await sharp(Buffer.from(svg), { density: 72 * scale })
    .png()
    .toFile(file);
  return file;
}
