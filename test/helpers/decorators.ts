/**
 * Test-side registry decorators: they wrap the real services to inject what the filesystem
 * driver cannot produce (redirect URLs, arbitrary errors). Production code has no such hooks.
 */
import type { BlobStore, Registry, Repository } from '../../src/registry/types.js';

export interface RepositoryOverrides {
  blobs?: (real: BlobStore) => Partial<BlobStore>;
  repository?: (real: Repository) => Partial<Repository>;
}

/** Wraps every repository, replacing the given methods and delegating the rest. */
export function decorateRegistry(registry: Registry, overrides: RepositoryOverrides): Registry {
  return {
    catalog: (page) => registry.catalog(page),
    repository(name) {
      const real = registry.repository(name);
      const repository: Repository = {
        name: real.name,
        blobs() {
          const blobs = real.blobs();
          const extra = overrides.blobs?.(blobs) ?? {};
          return {
            stat: extra.stat ?? ((d, o) => blobs.stat(d, o)),
            open: extra.open ?? ((d, o) => blobs.open(d, o)),
            redirectURL: extra.redirectURL ?? ((d, m, o) => blobs.redirectURL(d, m, o)),
            mount: extra.mount ?? ((d, f, o) => blobs.mount(d, f, o)),
            delete: extra.delete ?? ((d, o) => blobs.delete(d, o)),
          };
        },
        uploads: () => real.uploads(),
        manifests: () => real.manifests(),
        tags: () => real.tags(),
        referrers: () => real.referrers(),
      };
      return { ...repository, ...overrides.repository?.(real) };
    },
  };
}
