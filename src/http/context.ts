/**
 * The per-request context, reachable from anywhere below the dispatcher through
 * AsyncLocalStorage (e.g. a storage decorator logging with the request id).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from 'pino';

export interface RequestContext {
  /** A unique id for the request, logged on every line about it. */
  readonly id: string;
  /** The server logger bound to this request's id (created on first use). */
  readonly logger: Logger;
  /** Aborted when the client goes away before the response is complete. */
  readonly signal: AbortSignal;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** Runs `fn` with `context` as the current request context. */
export function runWithContext<T>(context: RequestContext, fn: () => T): T {
  return storage.run(context, fn);
}

/** The context of the request being served, or undefined outside a request. */
export function currentContext(): RequestContext | undefined {
  return storage.getStore();
}

/** A context whose child logger is only created when something logs. */
export function createRequestContext(id: string, logger: Logger, signal: AbortSignal): RequestContext {
  let child: Logger | undefined;
  return {
    id,
    signal,
    get logger() {
      child ??= logger.child({ reqId: id });
      return child;
    },
  };
}
