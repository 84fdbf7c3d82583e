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
    /** For a phone photo of a film or screen; `points`: the measured mean change, when known. */
    photoNote: (points?: string) => string;
  };
  refusal: { title: string } & Record<RefusalReason, string>;
  errors: Record<ErrorCode, (d: Details) => string>;
  /** The web page's own words; its results and errors use `result`, `refusal` and `errors`. */
  web: {
    /** This language's own name, for the language switcher. */
    languageName: string;
    languageLabel: string;
    title: string;
    intro: string;
    pick: string;
    dropHint: string;
    formats: (limitMb: string) => string;
    yourImage: string;
    heatmapAlt: string;
    errorTitle: string;
    networkError: string;
    privacyHeading: string;
    aboutHeading: string;
    intendedUseHeading: string;
    dataHeading: string;
    trainImages: (count: string) => string;
    sources: (list: string) => string;
    createdAt: (date: string) => string;
    metricsHeading: string;
    metricsColumns: { set: string; images: string; auc: string; sensitivity: string; specificity: string };
    metricsSets: {
      test: string;
      validation: string;
      unseenSource: (source: string) => string;
      perSource: (source: string) => string;
    };
    metricsNote: (threshold: string) => string;
    noMetrics: string;
    limitationsHeading: string;
    /** Said before the card's own texts, which are in English; empty in English. */
    cardInEnglish: string;
    apiNote: string;
    noscript: string;
  };
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
