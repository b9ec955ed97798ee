/**
 * Tags: `_manifests/tags/<tag>/current/link` names the manifest a tag points at, and
 * `_manifests/tags/<tag>/index/<alg>/<hex>/link` records every digest it ever pointed at,
 * exactly as distribution keeps them.
 */
import type { StorageDriver } from '../storage/driver.js';
import { isPathNotFound } from '../storage/errors.js';
import { mapLimit } from './concurrency.js';
import { RegistryError } from './errors.js';
import { deleteIfExists, readLink, writeLink } from './links.js';
import { type Digest, isTag, type RepositoryName, type Tag } from './names.js';
import { lastComponent, repositoryDir, tagCurrentLinkPath, tagDir, tagIndexLinkPath, tagsDir } from './paths.js';
import type { CallOptions, ListPage, TagStore } from './types.js';

export interface TagStoreOptions {
  driver: StorageDriver;
  name: RepositoryName;
  deleteEnabled: boolean;
}

const LOOKUP_CONCURRENCY = 16;

/** Applies `last`/`limit` to a lexically sorted list. */
export function paginate(sorted: readonly string[], page: ListPage = {}): string[] {
  const last = page.last;
  const after = last === undefined || last === '' ? sorted : sorted.filter((entry) => entry > last);
  return page.limit === undefined ? [...after] : after.slice(0, Math.max(0, page.limit));
}

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether two listings hold the same entries (usually the very same strings: a cheap pointer compare). */
export function sameEntries(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function createTagStore(options: TagStoreOptions): TagStore {
  const { driver, name } = options;
  // The tags derived from the last listing: a driver that caches listings hands back the same
  // entries, so a repeated tags list skips parsing, validating and sorting a thousand names.
  let derived: { listing: string[]; tags: Tag[] } | undefined;

  function unknown(tag: Tag): RegistryError {
    return new RegistryError('MANIFEST_UNKNOWN', 'manifest tagged by name is not known', { tag });
  }

  /** Every tag directory's name, sorted; NAME_UNKNOWN when the repository itself is absent. */
  async function allTags(opts: CallOptions): Promise<Tag[]> {
    let children: string[];
    try {
      children = await driver.list(tagsDir(name), { signal: opts.signal });
    } catch (error) {
      if (!isPathNotFound(error)) throw error;
      try {
        await driver.stat(repositoryDir(name), { signal: opts.signal });
      } catch (statError) {
        if (isPathNotFound(statError)) {
          throw new RegistryError('NAME_UNKNOWN', 'repository name not known to registry', { name });
        }
        throw statError;
      }
      return [];
    }
    if (derived !== undefined && sameEntries(derived.listing, children)) return derived.tags;
    const tags = children
      .map(lastComponent)
      .filter((entry): entry is Tag => isTag(entry))
      .sort(byCodeUnit);
    derived = { listing: children, tags };
    return tags;
  }

  const store: TagStore = {
    async get(tag, opts = {}) {
      const digest = await readLink(driver, tagCurrentLinkPath(name, tag), opts);
      if (digest === undefined) throw unknown(tag);
      return digest;
    },

    async tag(tag, digest, opts = {}) {
      // Distribution's order: the history entry first, then the current pointer.
      await writeLink(driver, tagIndexLinkPath(name, tag, digest), digest, opts);
      await writeLink(driver, tagCurrentLinkPath(name, tag), digest, opts);
    },

    async untag(tag, opts = {}) {
      if (!options.deleteEnabled) throw new RegistryError('UNSUPPORTED', 'deletes are disabled', { tag });
      if (!(await deleteIfExists(driver, tagDir(name, tag), opts))) throw unknown(tag);
    },

    async list(page = {}) {
      return paginate(await allTags(page), page);
    },

    async lookup(digest: Digest, opts = {}) {
      const tags = await allTags(opts).catch((error: unknown) => {
        if (error instanceof RegistryError && error.code === 'NAME_UNKNOWN') return [];
        throw error;
      });
      const targets = await mapLimit(tags, LOOKUP_CONCURRENCY, (tag) =>
        readLink(driver, tagCurrentLinkPath(name, tag), opts),
      );
      return tags.filter((_, i) => targets[i] === digest);
    },
  };
  return store;
}
