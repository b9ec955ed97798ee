/**
 * Repository enumeration by walking `repositories/`: a directory holding `_manifests` or
 * `_layers` is a repository; names nest (`library/ubuntu`), and `_`-prefixed directories are
 * never descended into. This walks the whole tree; a derived index can replace it later.
 */
import type { StorageDriver } from '../storage/driver.js';
import { isRepositoryName, type RepositoryName } from './names.js';
import { lastComponent, REPOSITORIES_ROOT, REPOSITORY_MARKERS, repositoryNameFromDir } from './paths.js';
import { paginate } from './tags.js';
import type { CallOptions, ListPage } from './types.js';

export interface Catalog {
  /** Every repository, in storage walk order, each once. */
  repositories(opts?: CallOptions): AsyncIterable<RepositoryName>;
  /** Repository names sorted lexically, paginated with `last`/`limit`. */
  list(page?: ListPage & CallOptions): Promise<string[]>;
}

export function createCatalog(driver: StorageDriver): Catalog {
  async function* repositories(opts: CallOptions = {}): AsyncIterable<RepositoryName> {
    let previous: string | undefined;
    const entries = driver.walk(REPOSITORIES_ROOT, {
      signal: opts.signal,
      descend: (info) => !lastComponent(info.path).startsWith('_'),
    });
    for await (const info of entries) {
      if (!info.isDir || !REPOSITORY_MARKERS.includes(lastComponent(info.path))) continue;
      const name = repositoryNameFromDir(info.path.slice(0, info.path.lastIndexOf('/')));
      // `_layers` and `_manifests` of one repository come out next to each other.
      if (name === undefined || name === previous || !isRepositoryName(name)) continue;
      previous = name;
      yield name;
    }
  }

  return {
    repositories,
    async list(page = {}) {
      const names = new Set<string>();
      for await (const name of repositories(page)) names.add(name);
      return paginate([...names].sort(), page);
    },
  };
}
