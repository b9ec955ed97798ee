/** Request-body helpers: declared length, capped buffering, and what to do with unread bodies. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryError } from '../registry/errors.js';
import { currentContext } from './context.js';

/** The declared `Content-Length`, or undefined when absent (chunked or no body). */
export function declaredLength(req: IncomingMessage): number | undefined {
  const raw = req.headers['content-length'];
  if (raw === undefined) return undefined;
  // Node's parser has already rejected malformed values; this only guards the conversion.
  const value = Number(raw);
  return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

/** Whether the request carries a body (chunked, or a positive Content-Length). */
export function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  return (declaredLength(req) ?? 0) > 0;
}

/**
 * The request body as an async iterable. Stopping early (an error, a size limit) leaves the
 * request intact instead of destroying it, which would destroy the socket before an error
 * response could be written.
 */
export function bodyStream(req: IncomingMessage): AsyncIterable<Buffer> {
  const iterator = req.iterator({ destroyOnReturn: false }) as AsyncIterator<Buffer>;
  // The request's signal (client gone, or a stalled transfer stopped by http.limits.idletimeout)
  // ends a pending read at once instead of waiting for bytes that may never come.
  const signal = currentContext()?.signal;
  return { [Symbol.asyncIterator]: () => (signal === undefined ? iterator : abortable(iterator, signal)) };
}

/** `iterator` whose pending `next()` rejects with the signal's reason when it aborts. */
function abortable<T>(iterator: AsyncIterator<T>, signal: AbortSignal): AsyncIterator<T> {
  const wrapped: AsyncIterator<T> = {
    next() {
      if (signal.aborted) return Promise.reject(signal.reason);
      const pending = iterator.next();
      // The read left behind settles (or fails) when the socket closes; nobody waits for it.
      pending.catch(() => undefined);
      let onAbort = (): void => undefined;
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
      });
      return Promise.race([pending, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
    },
  };
  const end = iterator.return?.bind(iterator);
  if (end !== undefined) wrapped.return = (value?: unknown) => end(value);
  return wrapped;
}

/**
 * Reads the whole body into memory, refusing more than `maxBytes`. Reading stops at the
 * first byte past the limit, so an oversized body is never buffered.
 * @throws RegistryError TOO_LARGE
 */
export async function readCappedBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = declaredLength(req);
  if (declared !== undefined && declared > maxBytes) throw tooLarge(maxBytes);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of bodyStream(req)) {
    total += chunk.length;
    if (total > maxBytes) throw tooLarge(maxBytes);
    chunks.push(chunk);
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total);
}

function tooLarge(maxBytes: number): RegistryError {
  return new RegistryError('TOO_LARGE', `payload exceeds the limit of ${maxBytes} bytes`, { limit: maxBytes });
}

/** At most this much of an unread body is drained after an early answer to keep the connection. */
const DRAIN_LIMIT = 8 * 1024 * 1024;

/**
 * Before answering a request whose body was not (fully) read: the rest is drained so the
 * connection can serve the next request, up to a bound: a large rejected upload would cost as
 * much as accepting it, so past the bound (or when the declared length exceeds it) the
 * connection is closed instead.
 */
export function settleUnreadBody(req: IncomingMessage, res: ServerResponse): void {
  if (req.complete || !hasBody(req)) return;
  const declared = declaredLength(req);
  if (declared !== undefined && declared > DRAIN_LIMIT) {
    res.setHeader('Connection', 'close');
    return;
  }
  let drained = 0;
  req.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > DRAIN_LIMIT) req.socket.destroy();
  });
  req.resume();
}
