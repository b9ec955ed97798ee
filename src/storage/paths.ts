/**
 * Driver-path grammar shared by every driver: absolute, '/'-separated, components of
 * `[A-Za-z0-9._-]+` other than `.` and `..`, no empty component and no trailing slash.
 * The root `/` is only meaningful where a directory is (stat, list, walk); drivers reject it
 * for file operations so a typo can never delete or overwrite the whole store.
 */
import { InvalidPathError } from './errors.js';

const PATH_PATTERN = /^(?:\/[A-Za-z0-9._-]+)+$/;

/** The root directory of every driver. */
export const ROOT_PATH = '/';

/** Whether `path` is a valid driver path; the root `/` counts only when `allowRoot` is set. */
export function isValidPath(path: string, allowRoot = false): boolean {
  if (path === ROOT_PATH) return allowRoot;
  if (!PATH_PATTERN.test(path)) return false;
  // The pattern admits '.' and '..' components; they would let a path climb out of its parent.
  // Both begin with '/.', which the paths Berth builds (hex digests, names) seldom contain.
  if (!path.includes('/.')) return true;
  for (const component of path.split('/')) {
    if (component === '.' || component === '..') return false;
  }
  return true;
}

/**
 * Returns `path` unchanged when valid.
 * @throws InvalidPathError otherwise (also for `/` unless `allowRoot`).
 */
export function validatePath(path: string, allowRoot = false): string {
  if (typeof path !== 'string' || !isValidPath(path, allowRoot)) throw new InvalidPathError(String(path));
  return path;
}

/** The components of a valid path; `[]` for the root. */
export function pathComponents(path: string): string[] {
  return path === ROOT_PATH ? [] : path.slice(1).split('/');
}

/** Joins a valid directory path and one component. */
export function joinPath(dir: string, name: string): string {
  return dir === ROOT_PATH ? `/${name}` : `${dir}/${name}`;
}

/** The parent of a valid non-root path (`/` for top-level entries). */
export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? ROOT_PATH : path.slice(0, i);
}

/** The last component of a valid non-root path. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Whether `ancestor` is a proper ancestor directory of `path`. */
export function isAncestorPath(ancestor: string, path: string): boolean {
  if (ancestor === path) return false;
  if (ancestor === ROOT_PATH) return true;
  return path.startsWith(ancestor) && path.charCodeAt(ancestor.length) === 0x2f;
}

/**
 * Orders paths as a depth-first walk with lexically sorted children visits them: component by
 * component, a directory before everything below it. This differs from plain string order,
 * which would put `/a/b-x` before `/a/b/c` because '-' sorts before '/'.
 * @returns a negative number, zero or a positive number like any comparator.
 */
export function compareWalkOrder(a: string, b: string): number {
  const ac = pathComponents(a);
  const bc = pathComponents(b);
  const n = Math.min(ac.length, bc.length);
  for (let i = 0; i < n; i++) {
    const x = ac[i]!;
    const y = bc[i]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return ac.length - bc.length;
}

/**
 * Whether a walk may skip the entry at `path` together with everything below it, because all of
 * it comes before `startAfter` in walk order. `startAfter` itself is not skippable this way: the
 * entries below it come after it.
 */
export function isBeforeStart(path: string, startAfter: string | undefined): boolean {
  if (startAfter === undefined) return false;
  return compareWalkOrder(path, startAfter) < 0 && !isAncestorPath(path, startAfter);
}

/** How a hierarchical driver exposes one directory level to {@link walkTree}. */
export interface TreeSource<I> {
  /** Names of the entries directly in `dir`, or undefined when `dir` is absent or not a directory. */
  names(dir: string): Promise<string[] | undefined>;
  /** Describes one entry, or undefined when it vanished since it was listed. */
  info(path: string): Promise<I | undefined>;
}

/** How many entries of one directory are described concurrently during a walk. */
const WALK_BATCH = 16;

/**
 * The walk of the driver contract over a hierarchical store: depth-first, children in lexical
 * order, entries up to and including `startAfter` skipped without describing whole subtrees that
 * lie before it, and `descend` consulted before entering any directory (also the ancestors of
 * `startAfter`, which are not yielded). Entries that vanish mid-walk are skipped.
 */
export async function* walkTree<I extends { path: string; isDir: boolean }>(
  source: TreeSource<I>,
  dir: string,
  opts: {
    signal?: AbortSignal | undefined;
    startAfter?: string | undefined;
    descend?: ((info: I) => boolean) | undefined;
  },
): AsyncGenerator<I> {
  opts.signal?.throwIfAborted();
  const names = await source.names(dir);
  if (names === undefined) return;
  const { startAfter } = opts;
  const paths = names
    .sort()
    .map((name) => joinPath(dir, name))
    .filter((p) => startAfter === undefined || !isBeforeStart(p, startAfter));
  // Ancestors of startAfter and startAfter itself survive the filter: they are entered, not yielded.
  for (let i = 0; i < paths.length; i += WALK_BATCH) {
    opts.signal?.throwIfAborted();
    const infos = await Promise.all(paths.slice(i, i + WALK_BATCH).map((p) => source.info(p)));
    for (const info of infos) {
      if (info === undefined) continue;
      const skipped = startAfter !== undefined && compareWalkOrder(info.path, startAfter) <= 0;
      if (!skipped) {
        yield info;
        opts.signal?.throwIfAborted();
      }
      if (info.isDir && (opts.descend === undefined || opts.descend(info))) {
        yield* walkTree(source, info.path, opts);
      }
    }
  }
}
