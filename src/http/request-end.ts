/**
 * What happens when a response is over: the access-log line (`log.accesslog`) and the request
 * metrics. One line per request with method, path, status, bytes sent and received, duration,
 * request id, client address (see client-address.ts), user and user agent.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { RequestObserver, RequestOutcome } from '../metrics/http-metrics.js';
import { normalizeAddress, requestClientAddress, type TrustedProxies } from './client-address.js';
import type { RequestContext } from './context.js';

export interface RequestEndOptions {
  /** The server logger. */
  logger: Logger;
  /** Whether to write the access-log line. */
  accessLog: boolean;
  /** The request metrics, when Prometheus is enabled. */
  observer?: RequestObserver | undefined;
  /** `http.trustedproxies`. */
  trustedProxies?: TrustedProxies | undefined;
}

export interface RequestTracker {
  /** Marks the request in flight under its route kind (or `auth`); call once, before the response ends. */
  routed(kind: string): void;
  /** Records the finished request; call once, when the response closed. */
  ended(status: number): void;
}

/**
 * How far each connection's `bytesRead` had got when its previous response ended: the bytes of a
 * request are the difference, headers included (a keep-alive connection serves one request at a
 * time). Counting this way leaves the request stream alone, where a 'data' listener would not.
 */
const readMarks = new WeakMap<Socket, number>();

function takeBytesRead(socket: Socket): number {
  const total = socket.bytesRead;
  const bytes = total - (readMarks.get(socket) ?? 0);
  readMarks.set(socket, total);
  return bytes;
}

const NOTHING: RequestTracker = { routed() {}, ended() {} };

/** @param started `performance.now()` when the request arrived. */
export function trackRequest(
  options: RequestEndOptions,
  req: IncomingMessage,
  context: RequestContext,
  pathname: string,
  started: number,
): RequestTracker {
  const { observer } = options;
  if (observer === undefined && !options.accessLog) return NOTHING;
  const socket = req.socket;
  const bytesBefore = socket.bytesWritten;
  let done: ((outcome: RequestOutcome) => void) | undefined;
  return {
    routed(kind) {
      done ??= observer?.begin(kind, req.method ?? 'GET');
    },
    ended(status) {
      const elapsedMs = performance.now() - started;
      const bytesOut = socket.bytesWritten - bytesBefore;
      const bytesIn = takeBytesRead(socket);
      done?.({ status, bytesIn, bytesOut, seconds: elapsedMs / 1000 });
      if (!options.accessLog) return;
      const peer = socket.remoteAddress;
      const remoteAddr = requestClientAddress(req, options.trustedProxies);
      options.logger.info(
        {
          reqId: context.id,
          method: req.method,
          path: pathname,
          status,
          bytes: bytesOut,
          bytesIn,
          durationMs: Math.round(elapsedMs * 100) / 100,
          remoteAddr,
          // The proxy the request came through, when the address above was taken from X-Forwarded-For.
          peerAddr: peer !== undefined && remoteAddr !== normalizeAddress(peer) ? normalizeAddress(peer) : undefined,
          user: context.user,
          userAgent: req.headers['user-agent'],
        },
        'request',
      );
    },
  };
}
