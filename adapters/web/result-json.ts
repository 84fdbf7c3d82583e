import { resultParts, type ClassifyResult, type Prediction, type Refusal } from '../../src/index.js';

export type ResultParts = ReturnType<typeof resultParts>;

/** The heatmap PNG as a data URL: the page can show it under its CSP (`img-src data:`), no byte arrays in JSON. */
export interface HeatmapJson {
  dataUrl: string;
  width: number;
  height: number;
}

/**
 * The core's result for the API: the same fields, plus `parts` (the formatted sentences in the
 * request's language, so the page's script holds no wording) and `locale`.
 */
export type ResultJson = (Omit<Prediction, 'heatmap'> & { heatmap?: HeatmapJson }) | Refusal;

export function toResultJson(
  result: ClassifyResult,
  locale: string,
): ResultJson & { parts: ResultParts; locale: string } {
  const parts = resultParts(result, locale);
  if (!result.accepted) return { ...result, parts, locale };
  const { heatmap, ...rest } = result;
  if (heatmap === undefined) return { ...rest, parts, locale };
  const png = Buffer.from(heatmap.png.buffer, heatmap.png.byteOffset, heatmap.png.byteLength);
  return {
    ...rest,
    heatmap: {
      dataUrl: `data:image/png;base64,${png.toString('base64')}`,
      width: heatmap.width,
      height: heatmap.height,
    },
    parts,
    locale,
  };
}
