/**
 * The reads of a collection's scan: each path is read once, so they bypass the driver's cache of
 * small files and listings (`uncached`), which would only validate and keep what is never asked again.
 */
import { listIfExists, readLink } from '../registry/links.js';
import type { Digest } from '../registry/names.js';
import type { CallOptions, StorageDriver } from '../storage/driver.js';

/** A directory's children; `[]` when it does not exist. */
export function scanList(driver: StorageDriver, path: string, opts: CallOptions): Promise<string[]> {
  return listIfExists(driver, path, { signal: opts.signal, uncached: true });
}

/** The digest a link names, or undefined when absent or unreadable. */
export function scanLink(driver: StorageDriver, path: string, opts: CallOptions): Promise<Digest | undefined> {
  return readLink(driver, path, { signal: opts.signal, uncached: true });
}
