/**
 * The server's background maintenance, started and stopped with it: upload purging
 * (`storage.maintenance.uploadpurging`) and online garbage collection (`storage.maintenance.gc`).
 * It builds the fence the registry's writers announce their links to, and forgets deleted blobs
 * and links in the registry's descriptor cache. In read-only
 * mode (`storage.maintenance.readonly`) nothing runs: the server then writes nothing at all.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { DescriptorCache } from '../registry/descriptor-cache.js';
import type { LinkFence } from '../registry/link-fence.js';
import type { StorageDriver } from '../storage/driver.js';
import { createLinkFence } from './fence.js';
import { startOnlineGc } from './online.js';
import { type PeriodicTask, randomJitter, startPeriodic } from './periodic.js';
import { purgeUploads } from './purge.js';

/** Distribution waits up to an hour before the first purge. */
const MAX_PURGE_JITTER_MS = 3_600_000;

export interface Maintenance {
  /** For `createRegistry`: present when online collection is enabled, so every writer announces its links. */
  readonly fence: LinkFence | undefined;
  /** Schedules the enabled tasks; call once the server listens. */
  start(): void;
  /** Stops the schedules and waits for a run in progress to abort; idempotent. */
  stop(): Promise<void>;
}

export interface MaintenanceOptions {
  logger: Logger;
  /** The registry's descriptor cache, where the collector forgets what it deletes. */
  descriptorCache: DescriptorCache;
  /** Overrides the random delay before each task's first run (tests). */
  firstDelayMs?: number;
}

type StorageMaintenance = Config['storage']['maintenance'];

function startPurging(
  driver: StorageDriver,
  settings: StorageMaintenance['uploadpurging'],
  logger: Logger,
  firstDelayMs: number | undefined,
): PeriodicTask {
  const { age: ageMs, interval: intervalMs, dryrun: dryRun } = settings;
  return startPeriodic({
    intervalMs,
    firstDelayMs: firstDelayMs ?? randomJitter(Math.min(intervalMs, MAX_PURGE_JITTER_MS)),
    async run(signal) {
      try {
        const result = await purgeUploads(driver, { ageMs, dryRun, signal });
        for (const upload of result.removed) {
          logger.info(
            { repository: upload.repository, uuid: upload.id, startedAt: upload.startedAt?.toISOString(), dryRun },
            dryRun ? 'upload purge: would remove an abandoned upload' : 'upload purge: removed an abandoned upload',
          );
        }
        logger.info(
          { scanned: result.scanned, removed: result.removed.length, dryRun },
          `upload purge finished: ${result.removed.length} of ${result.scanned} uploads ${dryRun ? 'would be ' : ''}removed`,
        );
      } catch (err) {
        if (!signal.aborted) logger.error({ err }, 'upload purge failed');
      }
    },
  });
}

export function createMaintenance(config: Config, driver: StorageDriver, options: MaintenanceOptions): Maintenance {
  const { logger } = options;
  const { uploadpurging, gc, readonly } = config.storage.maintenance;
  const onlineGc = gc.enabled && !readonly.enabled;
  const fence = onlineGc ? createLinkFence({ driver, graceMs: gc.graceperiod }) : undefined;
  const tasks: PeriodicTask[] = [];
  let started = false;

  return {
    fence,
    start() {
      if (started) return;
      started = true;
      if (readonly.enabled) {
        if (uploadpurging.enabled || gc.enabled)
          logger.info('read-only mode: upload purging and garbage collection are paused');
        return;
      }
      if (uploadpurging.enabled) {
        tasks.push(startPurging(driver, uploadpurging, logger, options.firstDelayMs));
        logger.info(
          { age: uploadpurging.age, interval: uploadpurging.interval, dryRun: uploadpurging.dryrun },
          'upload purging enabled',
        );
      }
      if (onlineGc) {
        tasks.push(
          startOnlineGc({
            driver,
            logger,
            cache: options.descriptorCache,
            intervalMs: gc.interval,
            graceMs: gc.graceperiod,
            ...(options.firstDelayMs === undefined ? {} : { firstDelayMs: options.firstDelayMs }),
          }),
        );
        logger.info({ interval: gc.interval, gracePeriod: gc.graceperiod }, 'online garbage collection enabled');
      }
    },
    async stop() {
      await Promise.all(tasks.splice(0).map((task) => task.stop()));
    },
  };
}
