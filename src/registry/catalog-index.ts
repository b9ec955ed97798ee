/**
 * The catalog's derived index: one marker file per repository, so `GET /v2/_catalog` is one
 * directory listing (and, on the filesystem, usually not even that) instead of a walk of every
 * repository's tree.
 *
 * ```
 * /docker/registry/v2/_berth/catalog/repositories/<name, '/' spelled 'S'>   content: the name
 * /docker/registry/v2/_berth/catalog/built                                  time of the last full walk
 * ```
 *
 * registry:2 never reads `_berth/`. The index is never a second source of truth: it is built by
 * walking `repositories/` the first time the catalog is asked for, a marker is written whenever a
 * repository gets a link (so a push through any Berth process shows up at once), and a full walk
 * reconciles it in the background once `built` is older than an hour, adding repositories written
 * behind Berth's back (registry:2 on the same storage, a restored backup) and dropping markers of
 * repositories that no longer exist. Deleting `_berth/catalog/` forces a rebuild on the next
 * catalog request.
 *
 * On the filesystem the sorted listing is kept in memory and revalidated per request by the index
 * directory's mtime, which every added or removed marker changes. Timestamps are coarse (a
 * few ms), so a listing taken within two seconds of the directory's mtime is not trusted again:
 * a marker written in the same tick by another process cannot be missed.
 */
import type { CallOptions, StorageDriver } from '../storage/driver.js';
import { isPathNotFound } from '../storage/errors.js';
import { isRepositoryName, type RepositoryName } from './names.js';
import { BERTH_ROOT, lastComponent, REPOSITORIES_ROOT } from './paths.js';

export const CATALOG_INDEX_ROOT = `${BERTH_ROOT}/catalog`;
export const CATALOG_INDEX_DIR = `${CATALOG_INDEX_ROOT}/repositories`;
export const CATALOG_BUILT_PATH = `${CATALOG_INDEX_ROOT}/built`;

/** How old the last full walk may get before a catalog request starts another in the background. */
export const DEFAULT_RECONCILE_AFTER_MS = 60 * 60 * 1000;
/** A listing this close to its directory's mtime may have missed a same-tick change. */
const RACY_MS = 2000;
/** How long a seen `built` time is trusted before it is read again. */
const BUILT_RECHECK_MS = 60 * 1000;

/** Repository names never contain upper-case letters, so 'S' can stand for '/' in one path component. */
export function markerName(name: RepositoryName): string {
  return name.replaceAll('/', 'S');
}

export function markerPath(name: RepositoryName): string {
  return `${CATALOG_INDEX_DIR}/${markerName(name)}`;
}

function nameOfMarker(component: string): RepositoryName | undefined {
  const name = component.replaceAll('S', '/');
  return isRepositoryName(name) ? name : undefined;
}

export interface CatalogIndex {
  /**
   * Every repository name, sorted by code unit. Builds the index first when it was never built,
   * and starts a background reconciliation when the last one is older than the limit.
   */
  names(opts?: CallOptions): Promise<readonly string[]>;
  /** Records that `name` exists, after its first link was written. Idempotent; free after the first call per process. */
  note(name: RepositoryName, opts?: CallOptions): Promise<void>;
  /** Walks `repositories/` and makes the index agree with it; resolves when done. */
  reconcile(opts?: CallOptions): Promise<void>;
}

export interface CatalogIndexOptions {
  /** The source of truth: every repository, by walking storage. */
  walk: (opts: CallOptions) => AsyncIterable<RepositoryName>;
  /** See {@link DEFAULT_RECONCILE_AFTER_MS}. */
  reconcileAfterMs?: number;
}

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function createCatalogIndex(driver: StorageDriver, options: CatalogIndexOptions): CatalogIndex {
  const reconcileAfterMs = options.reconcileAfterMs ?? DEFAULT_RECONCILE_AFTER_MS;
  // Only the filesystem driver's directory mtimes are known to change with every entry.
  const mtimeValidated = driver.name === 'filesystem';
  const known = new Set<string>();
  let listing: { mtime: number; names: string[]; trusted: boolean } | undefined;
  let builtAt: { time: number; checked: number } | undefined;
  let running: Promise<void> | undefined;

  async function statOrUndefined(path: string, opts: CallOptions) {
    try {
      return await driver.stat(path, opts);
    } catch (error) {
      if (isPathNotFound(error)) return undefined;
      throw error;
    }
  }

  async function listMarkers(opts: CallOptions): Promise<string[]> {
    let paths: string[];
    try {
      paths = await driver.list(CATALOG_INDEX_DIR, opts);
    } catch (error) {
      if (isPathNotFound(error)) return [];
      throw error;
    }
    const names: string[] = [];
    for (const path of paths) {
      const name = nameOfMarker(lastComponent(path));
      if (name === undefined) continue;
      names.push(name);
      known.add(name);
    }
    return names.sort(byCodeUnit);
  }

  async function listed(opts: CallOptions): Promise<string[]> {
    if (!mtimeValidated) return listMarkers(opts);
    const info = await statOrUndefined(CATALOG_INDEX_DIR, opts);
    if (info === undefined) return [];
    const mtime = info.modTime.getTime();
    if (listing?.trusted === true && listing.mtime === mtime) return listing.names;
    const names = await listMarkers(opts);
    listing = { mtime, names, trusted: Date.now() - mtime > RACY_MS };
    return names;
  }

  /** The full walk: markers for every repository found, removal of markers older than the walk. */
  async function walkAndReconcile(opts: CallOptions): Promise<void> {
    const started = Date.now();
    const found = new Set<string>();
    for await (const name of options.walk(opts)) {
      found.add(name);
      if (!known.has(name)) await index.note(name, opts);
    }
    for await (const info of driver.walk(CATALOG_INDEX_DIR, { signal: opts.signal })) {
      const name = nameOfMarker(lastComponent(info.path));
      // A marker newer than the walk may belong to a repository created after the walk passed it.
      if (info.isDir || name === undefined || found.has(name) || info.modTime.getTime() >= started - RACY_MS) continue;
      try {
        await driver.delete(info.path, opts);
      } catch (error) {
        if (!isPathNotFound(error)) throw error;
      }
      known.delete(name);
    }
    await driver.putContent(CATALOG_BUILT_PATH, Buffer.from(new Date(started).toISOString()), {
      signal: opts.signal,
      durable: false,
    });
    builtAt = { time: started, checked: Date.now() };
  }

  /** One walk at a time per process; callers share it. */
  function reconcileOnce(opts: CallOptions): Promise<void> {
    running ??= walkAndReconcile(opts).finally(() => {
      running = undefined;
    });
    return running;
  }

  async function lastBuilt(opts: CallOptions): Promise<number | undefined> {
    const now = Date.now();
    if (builtAt !== undefined && now - builtAt.checked < BUILT_RECHECK_MS) return builtAt.time;
    const info = await statOrUndefined(CATALOG_BUILT_PATH, opts);
    if (info === undefined) return undefined;
    builtAt = { time: info.modTime.getTime(), checked: now };
    return builtAt.time;
  }

  const index: CatalogIndex = {
    async names(opts = {}) {
      const built = await lastBuilt(opts);
      if (built === undefined) {
        await reconcileOnce(opts);
      } else if (Date.now() - built > reconcileAfterMs && running === undefined) {
        // Not tied to this request: the walk goes on if the client leaves, and its failure only
        // means the index is reconciled on a later request.
        reconcileOnce({}).catch(() => undefined);
      }
      return listed(opts);
    },

    async note(name, opts = {}) {
      if (known.has(name)) return;
      // Derived data: a marker lost to a power loss comes back with the next reconciliation.
      await driver.putContent(markerPath(name), Buffer.from(name), { signal: opts.signal, durable: false });
      known.add(name);
    },

    reconcile: (opts = {}) => reconcileOnce(opts),
  };
  return index;
}

/** The repository a link path belongs to, when it is a `_layers` or `_manifests/revisions` link. */
function repositoryOfLink(path: string): RepositoryName | undefined {
  if (!path.startsWith(`${REPOSITORIES_ROOT}/`) || !path.endsWith('/link')) return undefined;
  const rest = path.slice(REPOSITORIES_ROOT.length + 1);
  const at = rest.search(/\/_(layers|manifests\/revisions)\//);
  if (at <= 0) return undefined;
  const name = rest.slice(0, at);
  return isRepositoryName(name) ? name : undefined;
}

/**
 * The driver the repository services write through: after a `_layers` or `_manifests/revisions`
 * link is written, the repository is noted in the catalog index. A failure to note is not the
 * push's failure (the link, the source of truth, is written); the next reconciliation adds it.
 */
export function withCatalogNotes(driver: StorageDriver, index: CatalogIndex): StorageDriver {
  const redirectURL = driver.redirectURL;
  return {
    name: driver.name,
    getContent: (path, opts) => driver.getContent(path, opts),
    async putContent(path, content, opts) {
      await driver.putContent(path, content, opts);
      const name = repositoryOfLink(path);
      if (name !== undefined) await index.note(name, opts).catch(() => undefined);
    },
    reader: (path, opts) => driver.reader(path, opts),
    writer: (path, opts) => driver.writer(path, opts),
    stat: (path, opts) => driver.stat(path, opts),
    list: (path, opts) => driver.list(path, opts),
    move: (from, to, opts) => driver.move(from, to, opts),
    delete: (path, opts) => driver.delete(path, opts),
    walk: (path, opts) => driver.walk(path, opts),
    ...(redirectURL === undefined
      ? {}
      : {
          redirectURL: (path: string, method: 'GET' | 'HEAD', opts?: CallOptions) =>
            redirectURL.call(driver, path, method, opts),
        }),
  };
}
