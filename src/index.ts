/** The core's public API: adapters and scripts import from here. */
export { createClassifier, type Classifier, type ClassifierOptions } from './classifier/classifier.js';
export type { ClassifyResult, Prediction, Refusal, RefusalReason, Heatmap, Timings } from './core/result.js';
export {
  XrayError,
  BusyError,
  TimeoutError,
  ModelMissingError,
  isXrayError,
  toXrayError,
  ERROR_CODES,
  type ErrorCode,
} from './core/errors.js';
export { loadConfig, ConfigError, type Config } from './config.js';
export { preprocess, toModelInput, type Prepared, type ModelInput } from './image/preprocess.js';
export { decodeImage, type DecodedImage, type DecodeLimits } from './image/decode.js';
export { readCard, type ModelCard } from './model/card.js';
export {
  messages,
  resolveLocale,
  formatResult,
  formatError,
  formatAbout,
  resultParts,
  formatPercent,
  LOCALES,
} from './messages/index.js';
export { createLogger, type Logger } from './logger.js';
