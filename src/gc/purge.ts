/**
 * Upload purging (`storage.maintenance.uploadpurging`), as distribution does it: upload sessions
 * (`_uploads/<id>/`) whose `startedat` is older than `age` were abandoned by their client and are
 * removed. A session without a readable `startedat` can never be resumed; it is removed once its
 * directory has not changed for `age` or a minute, whichever is shorter — not at once, because a
 * session being created has its directory a moment before its `startedat`.
 */
import { mapLimit } from '../registry/concurrency.js';
import { deleteIfExists } from '../registry/links.js';
import { isRepositoryName, isUploadId } from '../registry/names.js';
import { lastComponent, REPOSITORIES_ROOT, repositoryNameFromDir } from '../registry/paths.js';
import type { CallOptions } from '../registry/types.js';
import type { StorageDriver } from '../storage/driver.js';
import { isPathNotFound } from '../storage/errors.js';

const UPLOADS = '_uploads';
const NO_STARTED_AT_MAX_MS = 60_000;
const CONCURRENCY = 16;

export interface AbandonedUpload {
  repository: string;
  id: string;
  /** Its `startedat`, or undefined when it had none. */
  startedAt: Date | undefined;
}

export interface PurgeResult {
  dryRun: boolean;
  /** Upload sessions found. */
  scanned: number;
  /** Sessions removed (dry run: that would be). */
  removed: AbandonedUpload[];
}

export interface PurgeOptions extends CallOptions {
  /** Sessions started longer ago than this are removed (ms). */
  ageMs: number;
  dryRun?: boolean;
  /** The time to judge ages against (default now). */
  now?: number;
}

interface Session {
  dir: string;
  modTime: Date;
}

async function readStartedAt(driver: StorageDriver, dir: string, opts: CallOptions): Promise<Date | undefined> {
  try {
    const text = (await driver.getContent(`${dir}/startedat`, { signal: opts.signal, maxBytes: 256 })).toString('utf8');
    const date = new Date(text.trim());
    return Number.isNaN(date.getTime()) ? undefined : date;
  } catch (error) {
    if (isPathNotFound(error)) return undefined;
    throw error;
  }
}

/** Finds and (unless a dry run) removes abandoned upload sessions in every repository. */
export async function purgeUploads(driver: StorageDriver, opts: PurgeOptions): Promise<PurgeResult> {
  const now = opts.now ?? Date.now();
  const sessions: Session[] = [];
  const walk = driver.walk(REPOSITORIES_ROOT, {
    signal: opts.signal,
    // Into repositories and their `_uploads`, never into `_layers` or `_manifests`, nor below a session.
    descend: (info) => {
      const name = lastComponent(info.path);
      if (name === UPLOADS) return true;
      return !name.startsWith('_') && !info.path.includes(`/${UPLOADS}/`);
    },
  });
  for await (const info of walk) {
    const parent = info.path.slice(0, info.path.lastIndexOf('/'));
    if (info.isDir && lastComponent(parent) === UPLOADS && isUploadId(lastComponent(info.path))) {
      sessions.push({ dir: info.path, modTime: info.modTime });
    }
  }
  const verdicts = await mapLimit(sessions, CONCURRENCY, async (session): Promise<AbandonedUpload | undefined> => {
    const startedAt = await readStartedAt(driver, session.dir, opts);
    const abandoned =
      startedAt === undefined
        ? now - session.modTime.getTime() > Math.min(opts.ageMs, NO_STARTED_AT_MAX_MS)
        : now - startedAt.getTime() > opts.ageMs;
    if (!abandoned) return undefined;
    const repositoryDir = session.dir.slice(0, session.dir.lastIndexOf(`/${UPLOADS}/`));
    const repository = repositoryNameFromDir(repositoryDir) ?? repositoryDir;
    if (!isRepositoryName(repository)) return undefined;
    if (opts.dryRun !== true) await deleteIfExists(driver, session.dir, opts);
    return { repository, id: lastComponent(session.dir), startedAt };
  });
  return {
    dryRun: opts.dryRun === true,
    scanned: sessions.length,
    removed: verdicts.filter((v): v is AbandonedUpload => v !== undefined),
  };
}
