/**
 * Online garbage collection (`storage.maintenance.gc`), a Berth extension: registry:2 collects
 * only while stopped or read-only. Every `interval` one replica — the holder of the lease —
 * marks and sweeps while clients go on pushing; the fence (fence.ts) and the grace period keep
 * every blob that is being uploaded, mounted or referenced. Untagged manifests are never removed
 * online: an index's children and a manifest pushed before its tag are untagged for a while.
 */
import type { Logger } from 'pino';
import type { DescriptorCache } from '../registry/descriptor-cache.js';
import { GC_BLOBS_ROOT } from '../registry/paths.js';
import type { StorageDriver } from '../storage/driver.js';
import { type CollectResult, collectGarbage } from './collect.js';
import { createDeletionGuard, newFenceId, pruneFenceEntries } from './fence.js';
import { createStorageLease, type GcLease } from './lease.js';
import { type PeriodicTask, randomJitter, startPeriodic } from './periodic.js';

/** How long a lease lasts without renewal; the holder renews it every third of that. */
export const LEASE_TTL_MS = 120_000;
/** `linked` entries are kept this much longer than a run needs, for a run that overlaps it. */
const PRUNE_MARGIN_MS = 3_600_000;
const MAX_FIRST_DELAY_MS = 3_600_000;

export interface OnlineGcOptions {
  driver: StorageDriver;
  logger: Logger;
  /** Forgets deleted blobs in this process. */
  cache: DescriptorCache;
  intervalMs: number;
  graceMs: number;
  /** Default: a lease file in storage. */
  lease?: GcLease;
  /** Delay of the first run (default: random, up to the interval or an hour). */
  firstDelayMs?: number;
}

/** One online run under the lease. @returns undefined when another replica holds the lease. */
export async function runOnlineCollection(
  options: Omit<OnlineGcOptions, 'intervalMs' | 'firstDelayMs'> & { lease: GcLease; signal?: AbortSignal },
): Promise<CollectResult | undefined> {
  const { driver, lease, signal } = options;
  if (!(await lease.acquire(LEASE_TTL_MS, { signal }))) return undefined;
  const renew = setInterval(() => {
    lease.acquire(LEASE_TTL_MS).catch((err: unknown) => options.logger.warn({ err }, 'gc: renewing the lease failed'));
  }, LEASE_TTL_MS / 3);
  renew.unref();
  try {
    const started = Date.now();
    const result = await collectGarbage({
      driver,
      signal,
      cache: options.cache,
      online: { graceMs: options.graceMs, guard: createDeletionGuard(driver) },
    });
    await pruneFenceEntries(driver, GC_BLOBS_ROOT, started - options.graceMs - PRUNE_MARGIN_MS, { signal });
    return result;
  } finally {
    clearInterval(renew);
    await lease.release().catch((err: unknown) => options.logger.warn({ err }, 'gc: releasing the lease failed'));
  }
}

export function startOnlineGc(options: OnlineGcOptions): PeriodicTask {
  const { logger } = options;
  const lease = options.lease ?? createStorageLease({ driver: options.driver, owner: newFenceId() });
  return startPeriodic({
    intervalMs: options.intervalMs,
    firstDelayMs: options.firstDelayMs ?? randomJitter(Math.min(options.intervalMs, MAX_FIRST_DELAY_MS)),
    async run(signal) {
      try {
        const result = await runOnlineCollection({ ...options, lease, signal });
        if (result === undefined) {
          logger.debug('garbage collection: another replica holds the lease');
          return;
        }
        logger.info(
          {
            repositories: result.repositories,
            manifests: result.manifests,
            blobs: result.blobs,
            marked: result.markedBlobs,
            deleted: result.deletedBlobs,
            reclaimedBytes: result.reclaimedBytes,
            layerLinks: result.layerLinks,
            keptYoung: result.keptYoung,
            keptLinked: result.keptLinked,
            durationMs: result.durationMs,
          },
          `garbage collection: deleted ${result.deletedBlobs} blobs (${result.reclaimedBytes} bytes)`,
        );
      } catch (err) {
        if (signal.aborted) logger.info('garbage collection: interrupted by shutdown');
        else logger.error({ err }, 'garbage collection failed');
      }
    },
  });
}
