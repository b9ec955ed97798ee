/**
 * Small pieces of the driver contract that every driver implements the same way: argument checks
 * of ranged reads, abortable streams, and reading a small object's body for `getContent`.
 */
import { addAbortSignal, Readable } from 'node:stream';
import type { CallOptions, StorageDriver } from '../driver.js';
import { ContentTooLargeError, InvalidOffsetError } from '../errors.js';
import { validatePath } from '../paths.js';

/**
 * The checks every `reader` makes before any I/O: a valid file path, a valid range, a live signal.
 * @returns the range: `offset` 0 and `length` undefined (to the end) when not given.
 * @throws InvalidPathError; InvalidOffsetError when `offset` is not a non-negative safe integer,
 * RangeError likewise for `length`; the signal's reason when it has aborted.
 */
export function checkRead(
  path: string,
  opts: Parameters<StorageDriver['reader']>[1],
): { offset: number; length: number | undefined } {
  validatePath(path);
  const offset = opts?.offset ?? 0;
  const length = opts?.length;
  if (!Number.isSafeInteger(offset) || offset < 0) throw new InvalidOffsetError(path, offset);
  if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) {
    throw new RangeError(`invalid length ${length} for ${path}`);
  }
  opts?.signal?.throwIfAborted();
  return { offset, length };
}

/** An object store's response body as the reader's stream (none: empty), aborted with `signal`. */
export function bodyStream(body: Readable | undefined, signal: AbortSignal | undefined): Readable {
  return body === undefined ? Readable.from([]) : abortable(body, signal);
}

/** `stream`, destroyed with an AbortError when `signal` aborts, so an aborted request stops reading storage. */
export function abortable(stream: Readable, signal: AbortSignal | undefined): Readable {
  return signal === undefined ? stream : addAbortSignal(signal, stream);
}

/** Every byte of `stream`, in one Buffer. */
async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    chunks.push(buffer);
    total += buffer.length;
  }
  return Buffer.concat(chunks, total);
}

/**
 * `getContent`'s answer from an object store's download response: the whole `body` (none: empty),
 * read under `opts.signal`. An object whose reported `length` exceeds `opts.maxBytes` is refused
 * before any of it is read, and its body destroyed so the connection is not left half-read.
 * @throws ContentTooLargeError when `length` exceeds `opts.maxBytes`.
 */
export async function readObjectBody(
  path: string,
  body: Readable | undefined,
  length: number | undefined,
  opts: (CallOptions & { maxBytes?: number }) | undefined,
): Promise<Buffer> {
  if (opts?.maxBytes !== undefined && (length ?? 0) > opts.maxBytes) {
    body?.destroy();
    throw new ContentTooLargeError(path, opts.maxBytes);
  }
  return body === undefined ? Buffer.alloc(0) : readAll(abortable(body, opts?.signal));
}
