/**
 * Which replica runs online garbage collection: a lease file in storage holding the owner and
 * an expiry. Storage offers no conditional put on every driver, so taking the lease is
 * write-then-read-back after a pause: two replicas that write within the pause can both read
 * back the same winner, but on a store whose writes take longer than the pause to become
 * visible both may believe they won. That costs duplicated work, never data: the fence
 * (fence.ts) keeps collections safe against writers and against each other.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { deleteIfExists } from '../registry/links.js';
import { GC_LEASE_PATH } from '../registry/paths.js';
import type { CallOptions } from '../registry/types.js';
import type { StorageDriver } from '../storage/driver.js';
import { isPathNotFound } from '../storage/errors.js';

export interface GcLease {
  /**
   * Takes the lease for `ttlMs` unless another owner holds an unexpired one; renewing one's own
   * lease succeeds. @returns whether this owner holds it now.
   */
  acquire(ttlMs: number, opts?: CallOptions): Promise<boolean>;
  /** Gives the lease up when this owner still holds it; idempotent. */
  release(opts?: CallOptions): Promise<void>;
}

interface LeaseRecord {
  owner: string;
  /** ms since the epoch. */
  expiresAt: number;
}

export interface StorageLeaseOptions {
  driver: StorageDriver;
  /** This replica's identity; any string. */
  owner: string;
  /** How long to wait before reading the lease back (default 200 ms). */
  settleMs?: number;
}

export function createStorageLease(options: StorageLeaseOptions): GcLease {
  const { driver, owner } = options;
  const settleMs = options.settleMs ?? 200;

  async function read(opts: CallOptions): Promise<LeaseRecord | undefined> {
    try {
      const parsed = JSON.parse(
        (await driver.getContent(GC_LEASE_PATH, { signal: opts.signal, maxBytes: 4096 })).toString('utf8'),
      ) as Partial<LeaseRecord>;
      return typeof parsed.owner === 'string' && typeof parsed.expiresAt === 'number'
        ? { owner: parsed.owner, expiresAt: parsed.expiresAt }
        : undefined;
    } catch (error) {
      // An unreadable lease is as good as none: the next writer replaces it.
      if (isPathNotFound(error) || error instanceof SyntaxError) return undefined;
      throw error;
    }
  }

  return {
    async acquire(ttlMs, opts = {}) {
      const current = await read(opts);
      const mine = current?.owner === owner;
      if (current !== undefined && !mine && current.expiresAt > Date.now()) return false;
      const record: LeaseRecord = { owner, expiresAt: Date.now() + ttlMs };
      await driver.putContent(GC_LEASE_PATH, Buffer.from(JSON.stringify(record)), { signal: opts.signal });
      if (mine) return true;
      await sleep(settleMs, undefined, opts.signal === undefined ? {} : { signal: opts.signal });
      return (await read(opts))?.owner === owner;
    },

    async release(opts = {}) {
      if ((await read(opts))?.owner === owner) await deleteIfExists(driver, GC_LEASE_PATH, opts);
    },
  };
}
