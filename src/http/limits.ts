/**
 * Hardening limits (`http.limits`): what one client can make the server hold. Each limit answers
 * with a clear OCI-style error rather than a silent reset:
 * - request headers past `maxheaderbytes` → 431, malformed requests → 400 (the `clientError` hook);
 * - more than `maxconcurrentuploads` upload requests in flight from one address → 429;
 * - a transfer that makes no progress for `idletimeout` → 408 (or the connection is cut once the
 *   response has started). Only the client's side counts: a slow but moving transfer is never cut,
 *   and time the server spends working (storage, hashing) never counts against the client.
 * Chunk and session sizes are enforced by the `withUploadLimits` registry decorator.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { ApiError, errorBody } from '../api/errors.js';
import type { Config } from '../config/schema.js';
import type { UploadLimits } from '../registry/upload-limits.js';
import { hasBody } from './body.js';
import type { RouteKind } from './routes.js';

export interface Limits extends UploadLimits {
  /** Largest request head (request line and headers) accepted, in bytes. */
  maxHeaderBytes: number;
  /** Largest manifest accepted, in bytes. */
  maxManifestBytes: number;
  /** Upload requests one client address may have in flight; 0 for no limit. */
  maxConcurrentUploads: number;
  /** How long a transfer may make no progress before it is stopped (ms); 0 disables. */
  idleTimeoutMs: number;
}

const MIN_HEADER_BYTES = 1024;

/**
 * Reads `http.limits` (defaults applied by the schema).
 * @throws Error when a value cannot work (e.g. a header limit too small for any client)
 */
export function resolveLimits(config: Config['http']['limits']): Limits {
  if (config.maxheaderbytes < MIN_HEADER_BYTES) {
    throw new Error(`http.limits.maxheaderbytes must be at least ${MIN_HEADER_BYTES}, got ${config.maxheaderbytes}`);
  }
  if (config.maxmanifestbytes < 1) throw new Error('http.limits.maxmanifestbytes must be positive');
  return {
    maxHeaderBytes: config.maxheaderbytes,
    maxManifestBytes: config.maxmanifestbytes,
    maxChunkBytes: config.maxchunkbytes,
    maxUploadBytes: config.maxuploadbytes,
    maxConcurrentUploads: config.maxconcurrentuploads,
    idleTimeoutMs: Math.round(config.idletimeout),
  };
}

function rawResponse(status: number, reason: string, message: string): string {
  const body = errorBody('UNKNOWN', message);
  return [
    `HTTP/1.1 ${status} ${reason}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

/**
 * Answers requests node:http refuses before the dispatcher sees them, with a JSON body saying
 * why: oversized heads (431), header timeouts (408) and malformed requests (400).
 */
export function answerClientErrors(server: Server, limits: Limits, logger: Logger): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    const code = error.code ?? '';
    // A response already on its way cannot be followed by another one: just cut the connection.
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (!socket.writable || code === 'ECONNRESET' || code === 'EPIPE' || inFlight?.headersSent === true) {
      socket.destroy();
      return;
    }
    let response: string;
    if (code === 'HPE_HEADER_OVERFLOW') {
      response = rawResponse(
        431,
        'Request Header Fields Too Large',
        `request headers exceed ${limits.maxHeaderBytes} bytes (http.limits.maxheaderbytes)`,
      );
    } else if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'ERR_HTTP_HEADERS_TIMEOUT') {
      response = rawResponse(408, 'Request Timeout', 'the request headers were not received in time');
    } else {
      response = rawResponse(400, 'Bad Request', `malformed HTTP request (${code || error.message})`);
    }
    logger.debug({ code, remoteAddr: socket.remoteAddress }, 'rejected a malformed request');
    socket.end(response);
    setTimeout(() => socket.destroy(), 1000).unref();
  });
}

const UPLOAD_METHODS: ReadonlySet<string> = new Set(['POST', 'PATCH', 'PUT']);

/** The per-request checks the dispatcher runs. */
export interface RequestLimiter {
  /**
   * Counts an upload request against its client's concurrency limit until the response closes.
   * @throws ApiError 429 TOO_MANY_REQUESTS (with `Retry-After`) when the client is at its limit
   */
  admit(kind: RouteKind, req: IncomingMessage, res: ServerResponse): void;
  /**
   * Watches the request's transfer in both directions and stops it when the client makes no
   * progress for the idle timeout: aborts `controller`, answers 408 when nothing was sent yet,
   * and closes the connection.
   */
  watch(req: IncomingMessage, res: ServerResponse, controller: AbortController): void;
}

/** IPv4 clients on a dual-stack socket show up as `::ffff:a.b.c.d`. */
function clientKey(req: IncomingMessage): string {
  const address = req.socket.remoteAddress ?? 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

export function createRequestLimiter(limits: Limits): RequestLimiter {
  const inFlight = new Map<string, number>();
  const { maxConcurrentUploads, idleTimeoutMs } = limits;
  const progress = idleTimeoutMs > 0 ? createProgressWatch(idleTimeoutMs) : undefined;
  return {
    admit(kind, req, res) {
      if (maxConcurrentUploads <= 0) return;
      if ((kind !== 'upload' && kind !== 'upload-start') || !UPLOAD_METHODS.has(req.method ?? '')) return;
      // Opening a session or committing without data moves no bytes: only transfers count.
      if (!hasBody(req)) return;
      const key = clientKey(req);
      const current = inFlight.get(key) ?? 0;
      if (current >= maxConcurrentUploads) {
        throw new ApiError(
          429,
          'TOO_MANY_REQUESTS',
          `too many concurrent uploads from this client (limit ${maxConcurrentUploads}, http.limits.maxconcurrentuploads)`,
          { limit: maxConcurrentUploads },
          { 'Retry-After': '1' },
        );
      }
      inFlight.set(key, current + 1);
      res.once('close', () => {
        const left = (inFlight.get(key) ?? 1) - 1;
        if (left <= 0) inFlight.delete(key);
        else inFlight.set(key, left);
      });
    },
    watch(req, res, controller) {
      progress?.add(req, res, controller);
    },
  };
}

/** One request's transfer as last seen; `check` returns false once the request is stopped. */
interface Watched {
  check(now: number): boolean;
  /** Neighbours in the watch list; both unset once removed. */
  prev: Watched | undefined;
  next: Watched | undefined;
}

/**
 * The requests in flight, linked through the entries themselves. A Set would do, but adding and
 * deleting one entry per request makes V8 rebuild a long-lived Set's table in the old generation
 * over and over: garbage that only full collections reclaim, so RSS crept up under load.
 */
class WatchList {
  #head: Watched | undefined;

  get empty(): boolean {
    return this.#head === undefined;
  }

  add(entry: Watched): void {
    entry.next = this.#head;
    if (this.#head !== undefined) this.#head.prev = entry;
    this.#head = entry;
  }

  /** Removes `entry` if it is still listed (a request can end after a tick already stopped it). */
  remove(entry: Watched): void {
    if (entry.prev === undefined && this.#head !== entry) return;
    if (entry.prev === undefined) this.#head = entry.next;
    else entry.prev.next = entry.next;
    if (entry.next !== undefined) entry.next.prev = entry.prev;
    entry.prev = undefined;
    entry.next = undefined;
  }

  /** Calls `fn` on every entry; `fn` may remove the entry it is given. */
  forEach(fn: (entry: Watched) => void): void {
    for (let entry = this.#head; entry !== undefined; ) {
      const next = entry.next;
      fn(entry);
      entry = next;
    }
  }
}

/**
 * Watches every request in flight with one timer (not one per request): each tick compares the
 * bytes its socket read and handed to the kernel with the previous tick's.
 */
function createProgressWatch(idleMs: number): {
  add(req: IncomingMessage, res: ServerResponse, c: AbortController): void;
} {
  const watched = new WatchList();
  let timer: NodeJS.Timeout | undefined;
  const tick = (): void => {
    const now = Date.now();
    watched.forEach((entry) => {
      if (!entry.check(now)) watched.remove(entry);
    });
    if (watched.empty) {
      clearInterval(timer);
      timer = undefined;
    }
  };
  return {
    add(req, res, controller) {
      const entry = watchProgress(req, res, controller, idleMs);
      watched.add(entry);
      res.once('close', () => watched.remove(entry));
      if (timer === undefined) {
        timer = setInterval(tick, Math.max(20, Math.min(1000, Math.floor(idleMs / 4))));
        timer.unref();
      }
    },
  };
}

function watchProgress(
  req: IncomingMessage,
  res: ServerResponse,
  controller: AbortController,
  idleMs: number,
): Watched {
  const socket = req.socket;
  // Bytes handed to the kernel: socket.bytesWritten also counts what still waits in our buffer.
  const sent = (): number => socket.bytesWritten - socket.writableLength;
  let lastRead = socket.bytesRead;
  let lastSent = sent();
  let idleSince = Date.now();

  function check(now: number): boolean {
    const read = socket.bytesRead;
    const written = sent();
    if (read !== lastRead || written !== lastSent) {
      lastRead = read;
      lastSent = written;
      idleSince = now;
      return true;
    }
    // The client owes us body bytes and nothing it sent waits unread on our side…
    const owesBody = !req.complete && req.readableLength === 0 && socket.readableLength === 0;
    // …or it has not taken what we already queued for it.
    const owesRead = socket.writableLength > 0;
    if (!owesBody && !owesRead) {
      idleSince = now;
      return true;
    }
    if (now - idleSince < idleMs) return true;
    stop(owesBody ? 'request body' : 'response');
    return false;
  }

  function stop(what: string): void {
    const message = `no progress on the ${what} for ${idleMs} ms (http.limits.idletimeout)`;
    if (what !== 'request body' || res.headersSent || res.destroyed) {
      // Nothing more can be said on this connection: the client is not reading.
      controller.abort(new Error(message));
      socket.destroy();
      return;
    }
    // The handler's pending body read rejects with this error, so it cleans up (the chunk is
    // dropped, the session keeps its size) before the dispatcher answers 408 with it.
    const wire = req.url?.includes('/manifests/') ? 'MANIFEST_INVALID' : 'BLOB_UPLOAD_INVALID';
    controller.abort(new ApiError(408, wire, message, { idleTimeoutMs: idleMs }, { Connection: 'close' }));
    // A handler that was not reading, or a client that does not read the answer, is cut off.
    setTimeout(
      () => {
        if (!res.writableFinished) socket.destroy();
      },
      Math.max(1000, idleMs),
    ).unref();
  }

  return { check, prev: undefined, next: undefined };
}
