/**
 * The global, content-addressed blob store: `blobs/<alg>/<xx>/<hex>/data`, shared by every
 * repository and with no access checks of its own (those are the repository links' job).
 * Layers, configs and manifests all live here. Sizes are cached because blob data is
 * immutable per digest.
 */
import type { Readable } from 'node:stream';
import type { CallOptions, StorageDriver } from '../storage/driver.js';
import { ContentTooLargeError, InvalidOffsetError, isPathNotFound } from '../storage/errors.js';
import type { DescriptorCache } from './descriptor-cache.js';
import { RegistryError } from './errors.js';
import { createLruMap } from './lru.js';
import type { Digest } from './names.js';
import { blobDataPath } from './paths.js';

export interface OpenedBlob {
  stream: Readable;
  offset: number;
  length: number;
  /** The blob's full size. */
  size: number;
}

export interface GlobalBlobStore {
  /**
   * @returns the blob's size from the cache or storage, or undefined when there is no data.
   * With `uncached` storage is asked even on a cache hit (writers fenced against online collection).
   */
  size(digest: Digest, opts?: CallOptions & { uncached?: boolean }): Promise<number | undefined>;
  /**
   * Opens `length` bytes (default: to the end) from `offset`. With `size` given (the caller
   * stat'ed already) storage is not stat'ed again.
   * @throws RegistryError BLOB_UNKNOWN when the data is absent; RANGE_INVALID for a range past the end.
   */
  open(digest: Digest, opts?: CallOptions & { offset?: number; length?: number; size?: number }): Promise<OpenedBlob>;
  /**
   * Reads a whole small blob (a manifest).
   * @throws RegistryError BLOB_UNKNOWN when absent; TOO_LARGE when over `maxBytes`.
   */
  read(digest: Digest, opts: CallOptions & { maxBytes: number }): Promise<Buffer>;
  /** Stores `content` under its digest atomically; skips the write when the blob exists. Idempotent. */
  put(digest: Digest, content: Uint8Array, opts?: CallOptions): Promise<void>;
  /**
   * Moves verified data at driver path `from` into place as the blob, or just deletes it when the
   * blob already exists (blobs are immutable, so the existing bytes are the same). With `from`
   * undefined the blob is empty. Idempotent.
   */
  adopt(digest: Digest, from: string | undefined, size: number, opts?: CallOptions): Promise<void>;
  /** A direct URL for the data when the driver offers one. */
  redirectURL(digest: Digest, method: 'GET' | 'HEAD', opts?: CallOptions): Promise<string | undefined>;
}

/**
 * Manifests are read from storage on every pull by tag or digest, and a digest's content never
 * changes, so the most recently read ones are kept in memory (existence is still the links' to
 * say: a repository's revision link is checked before every read): at most this many, of at most
 * this size each (16 MiB in all; a manifest is typically 1–4 KiB).
 */
const MAX_CACHED_CONTENTS = 256;
const MAX_CACHED_CONTENT_BYTES = 64 * 1024;

/** `content` in memory of its own, not a view that would hold a slab of Node's shared buffer pool. */
function ownCopy(content: Buffer): Buffer {
  const own = Buffer.allocUnsafeSlow(content.length);
  content.copy(own);
  return own;
}

export function createGlobalBlobStore(driver: StorageDriver, cache: DescriptorCache): GlobalBlobStore {
  const contents = createLruMap<Digest, Buffer>(MAX_CACHED_CONTENTS);
  /** Asks storage directly: used before writes, where a stale cache entry must not skip one. */
  async function storedSize(digest: Digest, opts: CallOptions): Promise<number | undefined> {
    try {
      const info = await driver.stat(blobDataPath(digest), { signal: opts.signal });
      return info.isDir ? undefined : info.size;
    } catch (error) {
      if (isPathNotFound(error)) return undefined;
      throw error;
    }
  }

  function tooLarge(digest: Digest, limit: number): RegistryError {
    return new RegistryError('TOO_LARGE', 'blob exceeds the size limit', { digest, limit });
  }

  function unknown(digest: Digest, cause?: unknown): RegistryError {
    return new RegistryError('BLOB_UNKNOWN', 'blob unknown to registry', { digest }, { cause });
  }

  const store: GlobalBlobStore = {
    async size(digest, opts = {}) {
      const cached = opts.uncached === true ? undefined : await cache.get(digest);
      if (cached !== undefined) return cached;
      const size = await storedSize(digest, opts);
      if (size !== undefined) await cache.set(digest, size);
      else if (opts.uncached === true) await cache.delete(digest);
      return size;
    },

    async open(digest, opts = {}) {
      const size = opts.size ?? (await store.size(digest, opts));
      if (size === undefined) throw unknown(digest);
      const offset = opts.offset ?? 0;
      const length = opts.length ?? size - offset;
      if (offset < 0 || length < 0 || offset + length > size) {
        throw new RegistryError('RANGE_INVALID', 'requested range not satisfiable', { offset, length, size });
      }
      try {
        const stream = await driver.reader(blobDataPath(digest), { signal: opts.signal, offset, length });
        return { stream, offset, length, size };
      } catch (error) {
        if (isPathNotFound(error)) {
          // Garbage collection removed it behind the cache's back.
          await cache.delete(digest);
          throw unknown(digest, error);
        }
        if (error instanceof InvalidOffsetError) {
          throw new RegistryError(
            'RANGE_INVALID',
            'requested range not satisfiable',
            { offset, length },
            { cause: error },
          );
        }
        throw error;
      }
    },

    async read(digest, opts) {
      const cached = contents.get(digest);
      if (cached !== undefined) {
        if (cached.length > opts.maxBytes) throw tooLarge(digest, opts.maxBytes);
        return cached;
      }
      try {
        const content = await driver.getContent(blobDataPath(digest), { signal: opts.signal, maxBytes: opts.maxBytes });
        if (content.length > MAX_CACHED_CONTENT_BYTES) return content;
        // The kept copy is what every read returns, the first included, so callers that memoise
        // by buffer (the manifest store's media type) work it out once.
        const own = ownCopy(content);
        contents.set(digest, own);
        return own;
      } catch (error) {
        if (isPathNotFound(error)) throw unknown(digest, error);
        if (error instanceof ContentTooLargeError) throw tooLarge(digest, opts.maxBytes);
        throw error;
      }
    },

    async put(digest, content, opts = {}) {
      if ((await storedSize(digest, opts)) === undefined) {
        await driver.putContent(blobDataPath(digest), content, { signal: opts.signal });
      }
      await cache.set(digest, content.byteLength);
    },

    async adopt(digest, from, size, opts = {}) {
      const signal = opts.signal;
      if ((await storedSize(digest, opts)) !== undefined) {
        if (from !== undefined) {
          try {
            await driver.delete(from, { signal });
          } catch (error) {
            if (!isPathNotFound(error)) throw error;
          }
        }
      } else if (from !== undefined) {
        // move replaces atomically, so two racing commits of the same digest both end with the same bytes.
        await driver.move(from, blobDataPath(digest), { signal });
      } else {
        await driver.putContent(blobDataPath(digest), new Uint8Array(0), { signal });
      }
      await cache.set(digest, size);
    },

    async redirectURL(digest, method, opts = {}) {
      if (driver.redirectURL === undefined) return undefined;
      return driver.redirectURL(blobDataPath(digest), method, { signal: opts.signal });
    },
  };
  return store;
}
