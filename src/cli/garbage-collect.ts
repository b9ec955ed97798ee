/**
 * `berth garbage-collect [config] [-d|--dry-run] [-m|--delete-untagged]`, as `registry
 * garbage-collect` runs: the registry must be stopped or read-only meanwhile (online collection,
 * `storage.maintenance.gc`, is the way to collect while serving). Output follows registry:2's —
 * the repositories and what is marked, then what is eligible for deletion — and ends with
 * what was removed and the space reclaimed. On a terminal, progress is shown on stderr.
 */
import type { Command } from 'commander';
import { ConfigError } from '../config/errors.js';
import { loadConfig } from '../config/load.js';
import { type CollectResult, collectGarbage, type GcProgress } from '../gc/collect.js';
import { createLogger } from '../log/logger.js';
import { createStorageDriver } from '../storage/factory.js';
import { type CollectionCache, openCollectionCache } from './gc-cache.js';

export interface GarbageCollectFlags {
  dryRun?: boolean;
  deleteUntagged?: boolean;
  /** Only the summary: no per-repository, per-manifest and per-blob lines. */
  quiet?: boolean;
}

export interface GarbageCollectIo {
  /** Receives the registry:2-style report. */
  stdout: NodeJS.WritableStream;
  /** Receives errors, and the progress display when it is a terminal. */
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** REGISTRY_* overrides, and REGISTRY_CONFIGURATION_PATH when no file is given. */
  env: NodeJS.ProcessEnv;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 → "1.5 KiB". */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** The closing lines, after registry:2's output. */
export function formatSummary(result: CollectResult): string {
  const seconds = (result.durationMs / 1000).toFixed(2);
  if (result.dryRun) {
    return (
      `\ndry run: nothing was deleted; ${result.eligibleBlobs} blobs (${formatBytes(result.reclaimedBytes)}), ` +
      `${result.eligibleManifests} manifests and ${result.layerLinks} layer links would be removed ` +
      `(${result.blobs} blobs scanned in ${seconds}s)\n`
    );
  }
  return (
    `\ndeleted ${result.deletedBlobs} blobs, ${result.deletedManifests} manifests and ${result.layerLinks} layer links; ` +
    `${formatBytes(result.reclaimedBytes)} reclaimed (${result.blobs} blobs scanned in ${seconds}s)\n`
  );
}

/**
 * Lines are encoded straight into a large buffer and written when it fills: a big registry prints
 * a line per blob, and joining strings costs more than the collection's own work per blob.
 */
function createLineWriter(stream: NodeJS.WritableStream): { line(text: string): void; flush(): void } {
  const CHUNK = 1024 * 1024;
  let buffer = Buffer.allocUnsafe(CHUNK);
  let used = 0;
  const flush = (): void => {
    if (used === 0) return;
    // The stream keeps the written buffer until it is flushed: the next lines go to a fresh one.
    stream.write(buffer.subarray(0, used));
    buffer = Buffer.allocUnsafe(CHUNK);
    used = 0;
  };
  return {
    line(text) {
      // Each UTF-16 unit takes at most 3 bytes in UTF-8; room for the text and the newline.
      if (used + text.length * 3 + 1 > buffer.length) {
        flush();
        if (text.length * 3 + 1 > buffer.length) buffer = Buffer.allocUnsafe(text.length * 3 + 1);
      }
      used += buffer.write(text, used, 'utf8');
      buffer[used++] = 0x0a;
    },
    flush,
  };
}

function createProgressDisplay(stderr: NodeJS.WritableStream): { update(p: GcProgress): void; clear(): void } {
  let last = 0;
  let shown = false;
  return {
    update(progress) {
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      const count = progress.total === undefined ? `${progress.done}` : `${progress.done}/${progress.total}`;
      const what = { mark: 'repositories scanned', sweep: 'blobs scanned', delete: 'blobs deleted' }[progress.phase];
      stderr.write(`\r\x1b[K${progress.phase}: ${count} ${what}`);
      shown = true;
    },
    clear() {
      if (shown) stderr.write('\r\x1b[K');
    },
  };
}

/** Runs one collection. @returns the process exit code. */
export async function garbageCollect(
  configPath: string | undefined,
  flags: GarbageCollectFlags,
  io: GarbageCollectIo,
): Promise<number> {
  const file = configPath ?? (io.env['REGISTRY_CONFIGURATION_PATH'] || undefined);
  if (file === undefined) {
    io.stderr.write('error: configuration path unspecified (give CONFIG or set REGISTRY_CONFIGURATION_PATH)\n');
    return 1;
  }
  let config: ReturnType<typeof loadConfig>['config'];
  try {
    config = loadConfig({ file, env: io.env }).config;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.stderr.write(`error: ${error.message}\n`);
    return 1;
  }
  const out = createLineWriter(io.stdout);
  const progress = io.stderr.isTTY === true ? createProgressDisplay(io.stderr) : undefined;
  const dryRun = flags.dryRun === true;
  let shared: CollectionCache | undefined;
  try {
    // A dry run deletes nothing, so there is nothing to forget.
    if (!dryRun) shared = await openCollectionCache(config, createLogger(config.log, { destination: io.stderr }));
    // Offline, nothing else waits on this process: scans may read synchronously (see DriverUse).
    const driver = createStorageDriver(config.storage, { batch: true });
    const result = await collectGarbage({
      driver,
      dryRun,
      deleteUntagged: flags.deleteUntagged === true,
      cache: shared?.cache,
      emit: flags.quiet === true ? undefined : (line) => out.line(line),
      progress: progress?.update,
    });
    progress?.clear();
    out.flush();
    io.stdout.write(formatSummary(result));
    if (shared !== undefined && !shared.intact()) {
      io.stderr.write(
        'error: redis was unreachable during the collection, so entries of deleted blobs may stay in the blob ' +
          'descriptor cache until they expire: flush that Redis database before serving from this storage\n',
      );
      return 1;
    }
    return 0;
  } catch (error) {
    progress?.clear();
    out.flush();
    io.stderr.write(`failed to garbage collect: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    await shared?.close();
  }
}

export function registerGarbageCollect(program: Command): void {
  program
    .command('garbage-collect')
    .description('delete blobs no manifest references (the registry must be stopped or read-only meanwhile)')
    .argument('[config]', 'configuration file (default: $REGISTRY_CONFIGURATION_PATH)')
    .option('-d, --dry-run', 'do everything except remove the blobs', false)
    .option('-m, --delete-untagged', 'also delete manifests that are not currently referenced via a tag', false)
    .option('-q, --quiet', 'print only the summary', false)
    .action(async (config: string | undefined, flags: GarbageCollectFlags) => {
      process.exitCode = await garbageCollect(config, flags, {
        stdout: process.stdout,
        stderr: process.stderr,
        env: process.env,
      });
    });
}
