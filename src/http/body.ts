/** Request-body helpers: declared length, capped buffering, and what to do with unread bodies. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryError } from '../registry/errors.js';

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
 * request intact (paused) instead of destroying it, which would destroy the socket before an
 * error response could be written.
 *
 * The body is read through `data` events with `pause()`/`resume()` for backpressure, and the
 * request's signal (client gone, or a stalled transfer stopped by http.limits.idletimeout) is
 * listened to once per body: a pending read rejects with its reason at once instead of waiting
 * for bytes that may never come. A blob body arrives in up to 64 KiB pieces, thousands per
 * layer, so nothing here is allocated per piece beyond the iterator result.
 */
export function bodyStream(req: IncomingMessage, signal: AbortSignal | undefined): AsyncIterable<Buffer> {
  return { [Symbol.asyncIterator]: () => bodyIterator(req, signal) };
}

/** Pieces read ahead of the consumer before the request is paused; it resumes at half of it. */
const READ_AHEAD = 8;

function bodyIterator(req: IncomingMessage, signal: AbortSignal | undefined): AsyncIterator<Buffer> {
  const ready: Buffer[] = [];
  let ended = false;
  let failure: { error: unknown } | undefined;
  let listening = false;
  let stopped = false;
  let waiter: (() => void) | undefined;

  const wake = (): void => {
    const resolve = waiter;
    waiter = undefined;
    resolve?.();
  };
  const onData = (chunk: Buffer): void => {
    ready.push(chunk);
    if (ready.length >= READ_AHEAD) req.pause();
    wake();
  };
  const onEnd = (): void => {
    ended = true;
    wake();
  };
  const fail = (error: unknown): void => {
    failure ??= { error };
    wake();
  };
  const onError = (error: unknown): void => fail(error);
  const onClose = (): void => {
    if (!ended) fail(Object.assign(new Error('the request closed before its body ended'), { code: 'ECONNRESET' }));
  };
  const onAbort = (): void => fail(signal?.reason);

  const listen = (): void => {
    listening = true;
    if (signal?.aborted) {
      fail(signal.reason);
      return;
    }
    if (req.readableEnded) {
      ended = true;
      return;
    }
    if (req.destroyed) {
      onClose();
      return;
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
    signal?.addEventListener('abort', onAbort, { once: true });
  };
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onError);
    req.off('close', onClose);
    signal?.removeEventListener('abort', onAbort);
    // What the consumer did not read stays in the request, for settleUnreadBody to drain or refuse.
    if (!ended) req.pause();
  };

  return {
    async next(): Promise<IteratorResult<Buffer>> {
      if (!listening) listen();
      for (;;) {
        if (failure !== undefined) {
          stop();
          throw failure.error;
        }
        const chunk = ready.shift();
        if (chunk !== undefined) {
          if (ready.length < READ_AHEAD / 2 && !ended && req.isPaused()) req.resume();
          return { value: chunk, done: false };
        }
        if (ended || stopped) {
          stop();
          return { value: undefined, done: true };
        }
        if (req.isPaused()) req.resume();
        await new Promise<void>((resolve) => {
          waiter = resolve;
        });
      }
    },
    async return(): Promise<IteratorResult<Buffer>> {
      stop();
      ready.length = 0;
      return { value: undefined, done: true };
    },
  };
}

/**
 * Reads the whole body into memory, refusing more than `maxBytes`. Reading stops at the
 * first byte past the limit, so an oversized body is never buffered.
 * @throws RegistryError TOO_LARGE
 */
export async function readCappedBody(
  req: IncomingMessage,
  maxBytes: number,
  signal: AbortSignal | undefined,
): Promise<Buffer> {
  const declared = declaredLength(req);
  if (declared !== undefined && declared > maxBytes) throw tooLarge(maxBytes);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of bodyStream(req, signal)) {
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
