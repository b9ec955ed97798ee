/** Errors every storage driver uses, so services can tell "absent" from "broken". */
export class PathNotFoundError extends Error {
  readonly path: string;
  constructor(path: string, options?: { cause?: unknown }) {
    super(`path not found: ${path}`, options);
    this.name = 'PathNotFoundError';
    this.path = path;
  }
}

/** A driver path that is not absolute, contains `.`/`..` segments or illegal characters. */
export class InvalidPathError extends Error {
  readonly path: string;
  constructor(path: string) {
    super(`invalid storage path: ${JSON.stringify(path.slice(0, 300))}`);
    this.name = 'InvalidPathError';
    this.path = path;
  }
}

/** A read asked for a byte range beyond the end of the object. */
export class InvalidOffsetError extends Error {
  readonly path: string;
  readonly offset: number;
  constructor(path: string, offset: number) {
    super(`invalid offset ${offset} for ${path}`);
    this.name = 'InvalidOffsetError';
    this.path = path;
    this.offset = offset;
  }
}

/** An object larger than the caller's `maxBytes` limit. */
export class ContentTooLargeError extends Error {
  readonly path: string;
  readonly limit: number;
  constructor(path: string, limit: number) {
    super(`content of ${path} exceeds ${limit} bytes`);
    this.name = 'ContentTooLargeError';
    this.path = path;
    this.limit = limit;
  }
}

export function isPathNotFound(error: unknown): error is PathNotFoundError {
  return error instanceof PathNotFoundError;
}
