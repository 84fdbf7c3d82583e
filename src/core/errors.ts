/**
 * Typed errors. Each carries a stable `code` that the message module turns into words for the
 * user, and the HTTP status the web adapter answers with. Never put personal data (DICOM tags,
 * file names, tokens) into `message` or `details`: they reach logs.
 */
export const ERROR_CODES = {
  unsupported_format: 415,
  unreadable_image: 400,
  animated_image: 415,
  vector_image: 415,
  image_too_large: 413,
  image_too_small: 400,
  dicom_unsupported: 415,
  busy: 503,
  timeout: 504,
  cancelled: 503,
  rate_limited: 429,
  model_missing: 503,
  model_invalid: 500,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface XrayErrorOptions {
  /** Safe, non-personal values the message module may show (e.g. `{ limitMb: 10 }`). */
  details?: Record<string, string | number>;
  cause?: unknown;
}

export class XrayError extends Error {
  override readonly name: string = 'XrayError';
  readonly code: ErrorCode;
  readonly details: Record<string, string | number>;

  constructor(code: ErrorCode, message: string, options: XrayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code];
  }
}

export class BusyError extends XrayError {
  override readonly name = 'BusyError';
  constructor() {
    super('busy', 'The classifier queue is full.');
  }
}

export class TimeoutError extends XrayError {
  override readonly name = 'TimeoutError';
  constructor(ms: number) {
    super('timeout', `The operation took longer than ${ms} ms.`, {
      details: { seconds: Math.ceil(ms / 1000) },
    });
  }
}

export class ModelMissingError extends XrayError {
  override readonly name = 'ModelMissingError';
  constructor(dir: string) {
    super('model_missing', `No model found in ${dir}. Train one with: npm run train`);
  }
}

export function isXrayError(error: unknown): error is XrayError {
  return error instanceof XrayError;
}

/** Any thrown value as an XrayError; unknown failures become `internal` (details stay in `cause`). */
export function toXrayError(error: unknown): XrayError {
  if (error instanceof XrayError) return error;
  return new XrayError('internal', 'Unexpected failure.', { cause: error });
}
