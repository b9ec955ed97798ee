/**
 * Domain errors thrown by the registry services. Each carries the OCI error code it maps
 * to; the one table in `api/errors.ts` turns codes into HTTP statuses.
 */
export const ERROR_CODES = [
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'MANIFEST_UNVERIFIED',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'TAG_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOO_MANY_REQUESTS',
  /** Not an OCI code on the wire: an unsatisfiable byte range (HTTP 416). */
  'RANGE_INVALID',
  /** Not an OCI code on the wire: payload over a configured limit (HTTP 413). */
  'TOO_LARGE',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class RegistryError extends Error {
  readonly code: ErrorCode;
  readonly detail: unknown;
  constructor(code: ErrorCode, message: string, detail?: unknown, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RegistryError';
    this.code = code;
    this.detail = detail;
  }
}

/**
 * An upload chunk whose start does not match the session's current size.
 * The API answers 416 with the session's current `Range`.
 */
export class UploadRangeError extends RegistryError {
  readonly currentSize: number;
  constructor(currentSize: number, requestedOffset: number) {
    super('BLOB_UPLOAD_INVALID', 'chunk out of order', { currentSize, requestedOffset });
    this.name = 'UploadRangeError';
    this.currentSize = currentSize;
  }
}

export function isRegistryError(error: unknown): error is RegistryError {
  return error instanceof RegistryError;
}
