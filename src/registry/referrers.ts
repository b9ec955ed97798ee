/**
 * The referrers API over the derived `_referrers/<subject alg>/<subject hex>/<alg>/<hex>/link`
 * index (see paths.ts). Entries whose manifest is gone are skipped rather than reported, so a
 * stale index entry can never surface a manifest that no longer exists.
 */
import type { StorageDriver } from '../storage/driver.js';
import { mapLimit } from './concurrency.js';
import { RegistryError } from './errors.js';
import { listIfExists, readLink } from './links.js';
import { describeManifest } from './manifest-validation.js';
import type { RepositoryName } from './names.js';
import { digestFromDirPath, referrerLinkPath, referrersDir } from './paths.js';
import type { Descriptor, ManifestStore, ReferrerStore } from './types.js';

export interface ReferrerStoreOptions {
  driver: StorageDriver;
  name: RepositoryName;
  manifests: ManifestStore;
}

const READ_CONCURRENCY = 16;

export function createReferrerStore(options: ReferrerStoreOptions): ReferrerStore {
  const { driver, name } = options;
  return {
    async list(subject, opts = {}) {
      const entries: string[] = [];
      for (const algorithmDir of await listIfExists(driver, referrersDir(name, subject), opts)) {
        entries.push(...(await listIfExists(driver, algorithmDir, opts)));
      }
      const found = await mapLimit(entries, READ_CONCURRENCY, async (dir): Promise<Descriptor | undefined> => {
        const digest = digestFromDirPath(dir);
        if (digest === undefined) return undefined;
        if ((await readLink(driver, referrerLinkPath(name, subject, digest), opts)) !== digest) return undefined;
        let payload: Buffer;
        try {
          payload = (await options.manifests.get(digest, opts)).payload;
        } catch (error) {
          if (error instanceof RegistryError && error.code === 'MANIFEST_UNKNOWN') return undefined;
          throw error;
        }
        const description = describeManifest(payload);
        if (description.subject !== subject) return undefined;
        const descriptor: Descriptor = { mediaType: description.mediaType, digest, size: payload.byteLength };
        if (description.artifactType !== undefined) descriptor.artifactType = description.artifactType;
        if (description.annotations !== undefined) descriptor.annotations = description.annotations;
        return descriptor;
      });
      return found.filter(
        (d): d is Descriptor =>
          d !== undefined && (opts.artifactType === undefined || d.artifactType === opts.artifactType),
      );
    },
  };
}
