import type { ErrorCode } from '../core/errors.js';
import type { RefusalReason } from '../core/result.js';

export type Details = Readonly<Record<string, string | number>>;

/** A model card's facts that /about shows; filled from model/card.json by the caller. */
export interface AboutFacts {
  modelVersion: string;
  trainedOn: string;
  images: number;
  sources: string;
  auc?: string;
  sensitivity?: string;
  specificity?: string;
  unseenHospitalAuc?: string;
  threshold: string;
}

/**
 * Every sentence a user reads, for one language. Functions take values already formatted for
 * that language (percentages, numbers), so translators control word order.
 */
export interface Catalog {
  /** BCP 47 tag used for number formatting. */
  locale: string;
  disclaimer: string;
  result: {
    title: string;
    probability: (percent: string) => string;
    above: (threshold: string) => string;
    below: (threshold: string) => string;
    modelVersion: (version: string) => string;
    heatmapCaption: string;
  };
  refusal: { title: string } & Record<RefusalReason, string>;
  errors: Record<ErrorCode, (d: Details) => string>;
  bot: {
    start: string;
    help: string;
    privacy: string;
    about: (f: AboutFacts) => string;
    textHint: string;
    noImageInMessage: string;
    working: string;
    commands: { start: string; help: string; about: string; privacy: string; xray: string };
    xrayOption: { image: string; public: string };
    contextMenu: string;
  };
}
