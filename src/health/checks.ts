/**
 * The checks of distribution's `health` section, with its failure messages: a file that must NOT
 * exist (an operator's maintenance switch), an HTTP endpoint answering a given status to `HEAD`, a
 * TCP port accepting connections, and the storage driver responding. Each check resolves when
 * healthy and rejects with an Error whose message is what `/debug/health` shows.
 */
import { stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { resolve } from 'node:path';
import type { RedisStatus } from '../redis/client.js';
import type { StorageDriver } from '../storage/driver.js';
import { isPathNotFound } from '../storage/errors.js';

/** One probe: resolves when healthy, rejects with the reason otherwise. Must honour `signal`. */
export type Check = (signal: AbortSignal) => Promise<void>;

function reason(error: unknown): string {
  if (error instanceof Error) {
    // fetch() hides the network error (ECONNREFUSED…) in `cause`.
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
  }
  return String(error);
}

/** `health.file[]`: fails while `file` exists ("file exists"), as distribution's FileChecker. */
export function fileCheck(file: string): Check {
  const absolute = resolve(file);
  return async () => {
    try {
      await stat(absolute);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    throw new Error('file exists');
  };
}

export interface HttpCheckOptions {
  /** The URL to send `HEAD` to. */
  uri: string;
  /** Extra request headers (`health.http[].headers`). */
  headers?: Record<string, string[]> | undefined;
  /** The status the endpoint must answer. */
  statusCode: number;
}

/**
 * `health.http[]`: a `HEAD` request must answer `statusCode`.
 * @throws Error at once when `uri` is not an absolute http(s) URL.
 */
export function httpCheck(options: HttpCheckOptions): Check {
  const { uri, statusCode } = options;
  const protocol = URL.canParse(uri) ? new URL(uri).protocol : '';
  if (protocol !== 'http:' && protocol !== 'https:') {
    throw new Error(`health.http: uri ${JSON.stringify(uri)} is not an absolute http(s) URL`);
  }
  return async (signal) => {
    const headers = new Headers();
    for (const [name, values] of Object.entries(options.headers ?? {})) {
      for (const value of values) headers.append(name, value);
    }
    let response: Response;
    try {
      response = await fetch(uri, { method: 'HEAD', headers, signal });
    } catch (error) {
      throw new Error(`${uri}: error while checking: ${reason(error)}`);
    }
    await response.body?.cancel();
    if (response.status !== statusCode) {
      throw new Error(`${uri}: downstream service returned unexpected status: ${response.status}`);
    }
  };
}

/** Splits `host:port` / `[v6]:port` (the host may be empty: `:6379` means localhost). */
export function parseHostPort(addr: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(addr.trim());
  const port = Number(match?.[3]);
  if (match === null || !Number.isInteger(port) || port > 65535) {
    throw new Error(`invalid address ${JSON.stringify(addr)}: expected host:port`);
  }
  const host = match[1] ?? match[2] ?? '';
  return { host: host === '' ? 'localhost' : host, port };
}

/** `health.tcp[]`: a TCP connection to `addr` must open. */
export function tcpCheck(addr: string): Check {
  const { host, port } = parseHostPort(addr);
  return (signal) =>
    new Promise<void>((resolveCheck, reject) => {
      const socket = connect({ host, port, signal });
      socket.once('connect', () => {
        socket.destroy();
        resolveCheck();
      });
      socket.once('error', (error) => {
        socket.destroy();
        reject(new Error(`${addr}: connection failed: ${reason(error)}`));
      });
    });
}

export interface StorageCheckOptions {
  /**
   * Where to write and delete a small probe object, proving the store accepts writes (a full
   * disk, a read-only mount, revoked write credentials); undefined to only read, as registry:2 does.
   */
  probePath?: string | undefined;
}

/**
 * `health.storagedriver`: the driver must answer a stat of `/` (absent is fine: the backend
 * responded), as distribution's check does; with `probePath`, a write and a delete must succeed too.
 */
export function storageCheck(driver: StorageDriver, options: StorageCheckOptions = {}): Check {
  return async (signal) => {
    try {
      await driver.stat('/', { signal });
    } catch (error) {
      if (!isPathNotFound(error)) throw error;
    }
    const { probePath } = options;
    if (probePath === undefined) return;
    await driver.putContent(probePath, Buffer.from(new Date().toISOString()), { signal });
    await driver.delete(probePath, { signal });
  };
}

/** Redis behind the descriptor cache: fails while the connection is down. */
export function redisCheck(source: { status(): RedisStatus }): Check {
  return async () => {
    const status = source.status();
    if (status.state === 'up') return;
    const since = status.since.toISOString();
    throw new Error(
      `${status.addr}: down since ${since}${status.lastError === undefined ? '' : `: ${status.lastError}`}`,
    );
  };
}
