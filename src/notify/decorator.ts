/**
 * `withNotifications`: a registry decorator that reports what clients did, after it succeeded,
 * as registry:2 events — blob push (upload commit), pull (GET of the bytes, or a redirect to
 * them), mount and delete; manifest push, pull and delete; tag delete. The wrapped services keep
 * their interfaces, so HTTP handlers know nothing of notifications.
 *
 * A pull is a GET: HEAD requests (existence checks that transfer nothing) emit no event, where
 * registry:2 emits a manifest pull for HEAD too and so double-counts every `docker pull`.
 * Reporting never fails the client's request: the sink swallows and logs its own faults.
 */
import { currentContext } from '../http/context.js';
import type { Digest, RepositoryName, Tag } from '../registry/names.js';
import type {
  BlobStore,
  Descriptor,
  ManifestStore,
  Registry,
  Repository,
  TagStore,
  UploadSession,
  UploadStore,
} from '../registry/types.js';
import type { Event, EventFactory } from './event.js';

export interface EventSink {
  /**
   * Queues the event for every endpoint that wants it. Resolves once the event is durably queued
   * (or the wait for storage was given up); never rejects.
   */
  write(event: Event): Promise<void>;
}

/** What one request learnt that a later call of the same request needs. */
interface RequestMemo {
  /** Manifests found by tag: a following pull of that digest names the tag. */
  tags: Map<Digest, Tag>;
  /** Blobs stat'ed: a redirect to the bytes reports their descriptor without a second stat. */
  blobs: Map<Digest, Descriptor>;
}

const memos = new WeakMap<object, RequestMemo>();

function memo(): RequestMemo | undefined {
  const context = currentContext();
  if (context === undefined) return undefined;
  let found = memos.get(context);
  if (found === undefined) {
    found = { tags: new Map(), blobs: new Map() };
    memos.set(context, found);
  }
  return found;
}

function isHead(): boolean {
  return currentContext()?.request?.method === 'HEAD';
}

/** Wraps `registry` so every successful write and read of content is written to `sink`. */
export function withNotifications(registry: Registry, sink: EventSink, events: EventFactory): Registry {
  async function emit(make: () => Event): Promise<void> {
    try {
      await sink.write(make());
    } catch (error) {
      currentContext()?.logger.warn({ err: error }, 'notification event could not be queued');
    }
  }

  function blobs(name: RepositoryName, real: BlobStore): BlobStore {
    return Object.assign(Object.create(real) as BlobStore, {
      async stat(digest: Digest, opts?: Parameters<BlobStore['stat']>[1]) {
        const descriptor = await real.stat(digest, opts);
        memo()?.blobs.set(digest, descriptor);
        return descriptor;
      },
      async open(digest: Digest, opts?: Parameters<BlobStore['open']>[1]) {
        const content = await real.open(digest, opts);
        await emit(() => events.blob('pull', name, content.descriptor));
        return content;
      },
      async redirectURL(digest: Digest, method: 'GET' | 'HEAD', opts?: Parameters<BlobStore['redirectURL']>[2]) {
        const url = await real.redirectURL(digest, method, opts);
        if (url !== undefined && method === 'GET') {
          const descriptor = memo()?.blobs.get(digest) ?? (await real.stat(digest, opts));
          await emit(() => events.blob('pull', name, descriptor));
        }
        return url;
      },
      async mount(digest: Digest, from: RepositoryName | undefined, opts?: Parameters<BlobStore['mount']>[2]) {
        const descriptor = await real.mount(digest, from, opts);
        if (descriptor !== undefined) await emit(() => events.blob('mount', name, descriptor, from));
        return descriptor;
      },
      async delete(digest: Digest, opts?: Parameters<BlobStore['delete']>[1]) {
        await real.delete(digest, opts);
        await emit(() => events.deleted(name, digest));
      },
    });
  }

  function session(name: RepositoryName, real: UploadSession): UploadSession {
    return Object.assign(Object.create(real) as UploadSession, {
      async commit(digest: Digest, opts?: Parameters<UploadSession['commit']>[1]) {
        const descriptor = await real.commit(digest, opts);
        await emit(() => events.blob('push', name, descriptor));
        return descriptor;
      },
    });
  }

  function uploads(name: RepositoryName, real: UploadStore): UploadStore {
    return Object.assign(Object.create(real) as UploadStore, {
      async create(opts?: Parameters<UploadStore['create']>[0]) {
        return session(name, await real.create(opts));
      },
      async resume(id: Parameters<UploadStore['resume']>[0], opts?: Parameters<UploadStore['resume']>[1]) {
        return session(name, await real.resume(id, opts));
      },
    });
  }

  function manifests(name: RepositoryName, real: ManifestStore): ManifestStore {
    return Object.assign(Object.create(real) as ManifestStore, {
      async get(digest: Digest, opts?: Parameters<ManifestStore['get']>[1]) {
        const manifest = await real.get(digest, opts);
        if (!isHead()) await emit(() => events.manifest('pull', name, manifest, memo()?.tags.get(digest)));
        return manifest;
      },
      async put(
        payload: Buffer,
        contentType: string | undefined,
        opts?: Parameters<ManifestStore['put']>[2],
      ): ReturnType<ManifestStore['put']> {
        const result = await real.put(payload, contentType, opts);
        await emit(() =>
          events.manifest('push', name, { digest: result.digest, mediaType: result.mediaType, payload }, opts?.tag),
        );
        return result;
      },
      async delete(digest: Digest, opts?: Parameters<ManifestStore['delete']>[1]) {
        await real.delete(digest, opts);
        await emit(() => events.deleted(name, digest));
      },
    });
  }

  function tags(name: RepositoryName, real: TagStore): TagStore {
    return Object.assign(Object.create(real) as TagStore, {
      async get(tag: Tag, opts?: Parameters<TagStore['get']>[1]) {
        const digest = await real.get(tag, opts);
        memo()?.tags.set(digest, tag);
        return digest;
      },
      async untag(tag: Tag, opts?: Parameters<TagStore['untag']>[1]) {
        await real.untag(tag, opts);
        await emit(() => events.tagDeleted(name, tag));
      },
    });
  }

  return Object.assign(Object.create(registry) as Registry, {
    repository(name: RepositoryName): Repository {
      const real = registry.repository(name);
      // Built once per handle, so a handler calling blobs() twice gets the same decorated store.
      let b: BlobStore | undefined;
      let u: UploadStore | undefined;
      let m: ManifestStore | undefined;
      let t: TagStore | undefined;
      return Object.assign(Object.create(real) as Repository, {
        blobs: () => {
          b ??= blobs(name, real.blobs());
          return b;
        },
        uploads: () => {
          u ??= uploads(name, real.uploads());
          return u;
        },
        manifests: () => {
          m ??= manifests(name, real.manifests());
          return m;
        },
        tags: () => {
          t ??= tags(name, real.tags());
          return t;
        },
      });
    },
  });
}
