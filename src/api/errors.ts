/**
 * THE one table turning domain error codes into HTTP statuses and wire codes, plus the
 * few errors that exist only at the HTTP layer (unknown route, bad pagination, wrong method).
 */
import { type ErrorCode, isRegistryError, UploadRangeError } from '../registry/errors.js';

/** Codes that appear in the `errors[].code` field of a response body. */
export type WireCode = Exclude<ErrorCode, 'TOO_LARGE'> | 'NOT_FOUND' | 'PAGINATION_NUMBER_INVALID' | 'UNKNOWN';

interface Mapping {
  status: number;
  /** The wire code; `TOO_LARGE` depends on the route, see wireCodeFor. */
  wire: WireCode | 'TOO_LARGE';
}

const TABLE: Readonly<Record<ErrorCode, Mapping>> = {
  BLOB_UNKNOWN: { status: 404, wire: 'BLOB_UNKNOWN' },
  BLOB_UPLOAD_INVALID: { status: 400, wire: 'BLOB_UPLOAD_INVALID' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, wire: 'BLOB_UPLOAD_UNKNOWN' },
  DIGEST_INVALID: { status: 400, wire: 'DIGEST_INVALID' },
  // The OCI spec answers 404 here; distribution used 400.
  MANIFEST_BLOB_UNKNOWN: { status: 404, wire: 'MANIFEST_BLOB_UNKNOWN' },
  MANIFEST_INVALID: { status: 400, wire: 'MANIFEST_INVALID' },
  MANIFEST_UNKNOWN: { status: 404, wire: 'MANIFEST_UNKNOWN' },
  MANIFEST_UNVERIFIED: { status: 400, wire: 'MANIFEST_UNVERIFIED' },
  NAME_INVALID: { status: 400, wire: 'NAME_INVALID' },
  NAME_UNKNOWN: { status: 404, wire: 'NAME_UNKNOWN' },
  SIZE_INVALID: { status: 400, wire: 'SIZE_INVALID' },
  TAG_INVALID: { status: 400, wire: 'TAG_INVALID' },
  UNAUTHORIZED: { status: 401, wire: 'UNAUTHORIZED' },
  DENIED: { status: 403, wire: 'DENIED' },
  UNSUPPORTED: { status: 405, wire: 'UNSUPPORTED' },
  TOO_MANY_REQUESTS: { status: 429, wire: 'TOO_MANY_REQUESTS' },
  RANGE_INVALID: { status: 416, wire: 'RANGE_INVALID' },
  TOO_LARGE: { status: 413, wire: 'TOO_LARGE' },
};

/** The HTTP status and wire code a domain error code maps to on a given route. */
export function mappingFor(code: ErrorCode, onManifestRoute: boolean): { status: number; wire: WireCode } {
  const { status, wire } = TABLE[code];
  if (wire !== 'TOO_LARGE') return { status, wire };
  return { status, wire: onManifestRoute ? 'MANIFEST_INVALID' : 'SIZE_INVALID' };
}

/** An error that only exists at the HTTP layer, carrying its own status and wire code. */
export class ApiError extends Error {
  readonly status: number;
  readonly wire: WireCode;
  readonly detail: unknown;
  /** Extra response headers (e.g. `Allow` on 405). */
  readonly headers: Readonly<Record<string, string>>;
  constructor(status: number, wire: WireCode, message: string, detail?: unknown, headers?: Record<string, string>) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.wire = wire;
    this.detail = detail;
    this.headers = headers ?? {};
  }
}

export function routeNotFound(): ApiError {
  return new ApiError(404, 'NOT_FOUND', 'route not found');
}

export function methodNotAllowed(method: string, allowed: readonly string[]): ApiError {
  return new ApiError(405, 'UNSUPPORTED', `method ${method} not allowed on this route`, undefined, {
    Allow: allowed.join(', '),
  });
}

export function paginationNumberInvalid(value: string): ApiError {
  return new ApiError(400, 'PAGINATION_NUMBER_INVALID', 'invalid number of results requested', {
    n: value.slice(0, 50),
  });
}

/** What the dispatcher writes for a failed request. */
export interface ErrorResponse {
  /** HTTP status. */
  status: number;
  /** Extra headers the error carries (e.g. `Allow`, `Content-Range`). */
  headers: Record<string, string>;
  /** The serialised OCI error body. */
  body: string;
  /** False for faults (the dispatcher logs those); true for conditions a client caused. */
  expected: boolean;
}

/** Serialises the OCI error body `{"errors":[{"code","message","detail"}]}`. */
export function errorBody(wire: WireCode, message: string, detail?: unknown): string {
  return JSON.stringify({ errors: [{ code: wire, message, detail: detail ?? null }] });
}

/** Maps any thrown value to its response; unknown errors become a 500 without internals. */
export function toErrorResponse(error: unknown, onManifestRoute: boolean): ErrorResponse {
  if (error instanceof ApiError) {
    return {
      status: error.status,
      headers: { ...error.headers },
      body: errorBody(error.wire, error.message, error.detail),
      expected: true,
    };
  }
  if (error instanceof UploadRangeError) {
    // Distribution answers an out-of-order chunk with 416 RANGE_INVALID, not 400.
    return { status: 416, headers: {}, body: errorBody('RANGE_INVALID', error.message, error.detail), expected: true };
  }
  if (isRegistryError(error)) {
    const { status, wire } = mappingFor(error.code, onManifestRoute);
    return { status, headers: {}, body: errorBody(wire, error.message, error.detail), expected: true };
  }
  return { status: 500, headers: {}, body: errorBody('UNKNOWN', 'unknown error'), expected: false };
}
