/**
 * Object-store listings as driver paths. A store lists keys (S3 object keys, Azure blob names)
 * below the driver's root prefix; the s3 and azure drivers turn them into driver paths here, the
 * same way, leaving out keys no driver path has (written by other tools under the same prefix).
 */
import { PathNotFoundError } from '../errors.js';
import { isValidPath } from '../paths.js';
import type { ListedFile } from './flat-walk.js';

/** One object of a flat listing as the store names it. */
export interface ListedObject {
  key: string;
  size: number;
  modTime: Date;
}

/** The objects of a flat listing as driver paths (what flat-walk.ts walks); `rootPrefix` is the driver's root. */
export async function* listedFiles(
  objects: AsyncIterable<ListedObject>,
  rootPrefix: string,
): AsyncGenerator<ListedFile> {
  for await (const item of objects) {
    const path = `/${item.key.slice(rootPrefix.length)}`;
    if (isValidPath(path)) yield { path, size: item.size, modTime: item.modTime };
  }
}

/**
 * Adds the children of directory `dir` named by one page of a hierarchical ('/'-delimited)
 * listing of `dirPrefix`: `keys` are its object keys and its common prefixes without their '/'.
 */
export function addChildren(
  children: Set<string>,
  dir: string,
  dirPrefix: string,
  keys: Iterable<string | undefined>,
): void {
  for (const key of keys) {
    if (key === undefined || key.length <= dirPrefix.length) continue;
    const child = `${dir === '/' ? '' : dir}/${key.slice(dirPrefix.length)}`;
    if (isValidPath(child)) children.add(child);
  }
}

/**
 * The answer of `list(dir)` from the children gathered by {@link addChildren}: sorted, and for a
 * directory other than the root, proof that it exists (a virtual directory exists while it has children).
 * @throws PathNotFoundError when `dir` is not the root and has no children.
 */
export function listedChildren(dir: string, children: Set<string>): string[] {
  if (children.size === 0 && dir !== '/') throw new PathNotFoundError(dir);
  return [...children].sort();
}
