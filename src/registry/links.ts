/** Reading and writing distribution's `link` files, and tolerant removal of link directories. */
import type { CacheableReadOptions, CallOptions, StorageDriver } from '../storage/driver.js';
import { isPathNotFound } from '../storage/errors.js';
import type { Digest } from './names.js';
import { linkContent, parseLinkContent } from './paths.js';

/** Links are 71 or 135 bytes; anything much larger is not a link. */
const MAX_LINK_BYTES = 1024;

/** @returns the digest a link file names, or undefined when the link is absent or unreadable as a digest. */
export async function readLink(
  driver: StorageDriver,
  path: string,
  opts: CacheableReadOptions = {},
): Promise<Digest | undefined> {
  try {
    const content = await driver.getContent(path, {
      signal: opts.signal,
      maxBytes: MAX_LINK_BYTES,
      uncached: opts.uncached,
    });
    return parseLinkContent(content);
  } catch (error) {
    if (isPathNotFound(error)) return undefined;
    throw error;
  }
}

/** Whether the link at `path` exists and names exactly `digest`. */
export async function hasLink(driver: StorageDriver, path: string, digest: Digest, opts: CallOptions = {}) {
  return (await readLink(driver, path, opts)) === digest;
}

/** Writes a link atomically (putContent), replacing any previous target. */
export async function writeLink(driver: StorageDriver, path: string, digest: Digest, opts: CallOptions = {}) {
  await driver.putContent(path, linkContent(digest), { signal: opts.signal });
}

/** Deletes a file or directory tree. @returns false when nothing was there. */
export async function deleteIfExists(driver: StorageDriver, path: string, opts: CallOptions = {}): Promise<boolean> {
  try {
    await driver.delete(path, { signal: opts.signal });
    return true;
  } catch (error) {
    if (isPathNotFound(error)) return false;
    throw error;
  }
}

/** Lists a directory's children; `[]` when it does not exist. */
export async function listIfExists(
  driver: StorageDriver,
  path: string,
  opts: CacheableReadOptions = {},
): Promise<string[]> {
  try {
    return await driver.list(path, { signal: opts.signal, uncached: opts.uncached });
  } catch (error) {
    if (isPathNotFound(error)) return [];
    throw error;
  }
}
