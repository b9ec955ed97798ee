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

/** `make`, called on first use only; later calls return the same object. */
function once<T extends object>(make: () => T): () => T {
  let made: T | undefined;
  return () => {
    made ??= make();
    return made;
  };
}

function isHead(): boolean {
  return currentContext()?.request?.method === 'HEAD';
}

/** Wraps `registry` so every successful write and read of content is written to `sink`. */
export function withNotifications(registry: Registry, sink: EventSink, events: EventFactory): Registry {
  /** Queues the event `make` builds, if any; a fault while building or queueing is logged, never thrown. */
  async function emit(make: () => Event | undefined): Promise<void> {
    try {
      const event = make();
      if (event !== undefined) await sink.write(event);
    } catch (error) {
      currentContext()?.logger.warn({ err: error }, 'notification event could not be queued');
    }
  }

  /**
   * `call`, reporting after it succeeds the event `describe` builds from its result and arguments
   * (none when `describe` returns undefined). A failed call reports nothing: events say what was done.
   */
  function reporting<A extends unknown[], R>(
    call: (...args: A) => Promise<R>,
    describe: (result: R, ...args: A) => Event | undefined,
  ): (...args: A) => Promise<R> {
    return async (...args) => {
      const result = await call(...args);
      await emit(() => describe(result, ...args));
      return result;
    };
  }

  function blobs(name: RepositoryName, real: BlobStore): BlobStore {
    return Object.assign(Object.create(real) as BlobStore, {
      async stat(digest: Digest, opts?: Parameters<BlobStore['stat']>[1]) {
        const descriptor = await real.stat(digest, opts);
        memo()?.blobs.set(digest, descriptor);
        return descriptor;
      },
      open: reporting(real.open.bind(real), (content) => events.blob('pull', name, content.descriptor)),
      async redirectURL(digest: Digest, method: 'GET' | 'HEAD', opts?: Parameters<BlobStore['redirectURL']>[2]) {
        const url = await real.redirectURL(digest, method, opts);
        if (url !== undefined && method === 'GET') {
          const descriptor = memo()?.blobs.get(digest) ?? (await real.stat(digest, opts));
          await emit(() => events.blob('pull', name, descriptor));
        }
        return url;
      },
      mount: reporting(real.mount.bind(real), (descriptor, _digest, from) =>
        descriptor === undefined ? undefined : events.blob('mount', name, descriptor, from),
      ),
      delete: reporting(real.delete.bind(real), (_, digest) => events.deleted(name, digest)),
    });
  }

  function session(name: RepositoryName, real: UploadSession): UploadSession {
    return Object.assign(Object.create(real) as UploadSession, {
      commit: reporting(real.commit.bind(real), (descriptor) => events.blob('push', name, descriptor)),
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
      get: reporting(real.get.bind(real), (manifest, digest) =>
        isHead() ? undefined : events.manifest('pull', name, manifest, memo()?.tags.get(digest)),
      ),
      put: reporting(real.put.bind(real), (result, payload, _contentType, opts) =>
        events.manifest('push', name, { digest: result.digest, mediaType: result.mediaType, payload }, opts?.tag),
      ),
      delete: reporting(real.delete.bind(real), (_, digest) => events.deleted(name, digest)),
    });
  }

  function tags(name: RepositoryName, real: TagStore): TagStore {
    return Object.assign(Object.create(real) as TagStore, {
      async get(tag: Tag, opts?: Parameters<TagStore['get']>[1]) {
        const digest = await real.get(tag, opts);
        memo()?.tags.set(digest, tag);
        return digest;
      },
      untag: reporting(real.untag.bind(real), (_, tag) => events.tagDeleted(name, tag)),
    });
  }

  return Object.assign(Object.create(registry) as Registry, {
    repository(name: RepositoryName): Repository {
      const real = registry.repository(name);
      // Built once per handle, so a handler calling blobs() twice gets the same decorated store.
      return Object.assign(Object.create(real) as Repository, {
        blobs: once(() => blobs(name, real.blobs())),
        uploads: once(() => uploads(name, real.uploads())),
        manifests: once(() => manifests(name, real.manifests())),
        tags: once(() => tags(name, real.tags())),
      });
    },
  });
}
