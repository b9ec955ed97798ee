/**
 * Upload sessions kept in storage (`_uploads/<uuid>/data` and `startedat`), so any replica
 * sharing the storage can continue one. Node cannot serialise a `crypto.Hash`, so the running
 * sha256 lives in an in-process map with the byte count it covers; a replica that lacks it (or
 * holds a stale one) rebuilds it by reading back only the bytes it has not hashed.
 *
 * A chunk is all-or-nothing: it goes through an appending writer that is committed only when the
 * whole chunk arrived with the announced length, so a failed chunk leaves the session at its
 * previous size and usable.
 */
import { createHash, type Hash, randomUUID } from 'node:crypto';
import type { StorageDriver } from '../storage/driver.js';
import { isPathNotFound } from '../storage/errors.js';
import type { GlobalBlobStore } from './blob-store.js';
import { RegistryError, UploadRangeError } from './errors.js';
import { deleteIfExists, writeLink } from './links.js';
import type { KeyedMutex } from './locks.js';
import type { LruMap } from './lru.js';
import { MEDIA_TYPES } from './media-types.js';
import {
  type Digest,
  type DigestAlgorithm,
  digestAlgorithm,
  digestFromHex,
  parseUploadId,
  type RepositoryName,
  type UploadId,
} from './names.js';
import { layerLinkPath, uploadDataPath, uploadDir, uploadStartedAtPath } from './paths.js';
import type { CallOptions, UploadSession, UploadStore } from './types.js';

/** A running sha256 over the first `covered` bytes of a session's data. */
export interface UploadHashState {
  hash: Hash;
  covered: number;
}

export interface UploadStoreOptions {
  driver: StorageDriver;
  name: RepositoryName;
  global: GlobalBlobStore;
  /** Running hashes by session key; shared by all repositories of one registry instance. */
  hashers: LruMap<string, UploadHashState>;
  /** Serialises work on one session within this process. */
  mutex: KeyedMutex;
}

/** Distribution writes `time.Now().UTC().Format(time.RFC3339)`: whole seconds, `Z`. */
function formatStartedAt(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

export function createUploadStore(options: UploadStoreOptions): UploadStore {
  const { driver, name } = options;

  async function dataSize(id: UploadId, opts: CallOptions): Promise<number | undefined> {
    try {
      return (await driver.stat(uploadDataPath(name, id), { signal: opts.signal })).size;
    } catch (error) {
      if (isPathNotFound(error)) return undefined;
      throw error;
    }
  }

  async function readStartedAt(id: UploadId, opts: CallOptions): Promise<Date> {
    let text: string;
    try {
      text = (await driver.getContent(uploadStartedAtPath(name, id), { signal: opts.signal, maxBytes: 256 })).toString(
        'utf8',
      );
    } catch (error) {
      if (isPathNotFound(error)) {
        throw new RegistryError(
          'BLOB_UPLOAD_UNKNOWN',
          'blob upload unknown to registry',
          { uuid: id },
          { cause: error },
        );
      }
      throw error;
    }
    const parsed = new Date(text.trim());
    return Number.isNaN(parsed.getTime()) ? new Date(0) : parsed;
  }

  function session(id: UploadId, startedAt: Date, initialSize: number): UploadSession {
    const key = `${name}\u0000${id}`;
    let size = initialSize;

    /** Feeds `hash` the stored bytes [from, to) of this session. */
    async function hashStored(hash: Hash, from: number, to: number, opts: CallOptions): Promise<void> {
      if (to <= from) return;
      const stream = await driver.reader(uploadDataPath(name, id), {
        signal: opts.signal,
        offset: from,
        length: to - from,
      });
      for await (const chunk of stream) hash.update(chunk as Buffer);
    }

    /**
     * Takes the running hash out of the shared map positioned at `base` bytes; the caller puts
     * it back only after a successful chunk, so a failure can never leave a wrong state behind.
     */
    async function takeHashAt(base: number, opts: CallOptions): Promise<UploadHashState> {
      const cached = options.hashers.get(key);
      options.hashers.delete(key);
      // Data is append-only, so a hash covering a prefix only needs the bytes after it.
      const state =
        cached !== undefined && cached.covered <= base ? cached : { hash: createHash('sha256'), covered: 0 };
      await hashStored(state.hash, state.covered, base, opts);
      state.covered = base;
      return state;
    }

    async function computeDigest(algorithm: DigestAlgorithm, total: number, opts: CallOptions): Promise<Digest> {
      if (algorithm === 'sha256') {
        const cached = options.hashers.get(key);
        if (cached !== undefined && cached.covered === total) {
          return digestFromHex('sha256', cached.hash.copy().digest('hex'));
        }
      }
      const hash = createHash(algorithm);
      await hashStored(hash, 0, total, opts);
      return digestFromHex(algorithm, hash.digest('hex'));
    }

    async function remove(opts: CallOptions): Promise<void> {
      options.hashers.delete(key);
      await deleteIfExists(driver, uploadDir(name, id), opts);
    }

    return {
      id,
      repository: name,
      startedAt,
      get size() {
        return size;
      },

      append(body, opts = {}) {
        return options.mutex.run(key, async () => {
          const writer = await driver.writer(uploadDataPath(name, id), { signal: opts.signal, append: true });
          let committed = false;
          try {
            // The writer's size is what storage holds now, even if another replica appended since resume.
            const base = writer.size;
            if (opts.offset !== undefined && opts.offset !== base) throw new UploadRangeError(base, opts.offset);
            const state = await takeHashAt(base, opts);
            const expected = opts.expectedLength;
            let received = 0;
            const sizeInvalid = () =>
              new RegistryError('SIZE_INVALID', 'chunk length does not match Content-Length', {
                expected,
                received,
              });
            async function* hashed(): AsyncGenerator<Uint8Array> {
              for await (const chunk of body) {
                received += chunk.byteLength;
                if (expected !== undefined && received > expected) throw sizeInvalid();
                state.hash.update(chunk);
                yield chunk;
              }
            }
            await writer.write(hashed(), { signal: opts.signal });
            if (expected !== undefined && received !== expected) throw sizeInvalid();
            await writer.commit({ signal: opts.signal });
            committed = true;
            size = base + received;
            options.hashers.set(key, { hash: state.hash, covered: size });
            return size;
          } finally {
            // Uncommitted bytes never become visible: the session stays at its previous size.
            if (!committed) await writer.close();
          }
        });
      },

      commit(digest, opts = {}) {
        return options.mutex.run(key, async () => {
          const stored = await dataSize(id, opts);
          if (stored === undefined) await readStartedAt(id, opts);
          const total = stored ?? 0;
          if (opts.size !== undefined && opts.size !== total) {
            // Like distribution, a failed commit ends the session: nothing of it is stored.
            await remove(opts);
            throw new RegistryError('SIZE_INVALID', 'upload size does not match', { expected: opts.size, size: total });
          }
          const actual = await computeDigest(digestAlgorithm(digest), total, opts);
          if (actual !== digest) {
            await remove(opts);
            throw new RegistryError('DIGEST_INVALID', 'provided digest did not match uploaded content', {
              digest,
            });
          }
          await options.global.adopt(digest, stored === undefined ? undefined : uploadDataPath(name, id), total, opts);
          await writeLink(driver, layerLinkPath(name, digest), digest, opts);
          await remove(opts);
          size = total;
          return { mediaType: MEDIA_TYPES.octetStream, digest, size: total };
        });
      },

      cancel(opts = {}) {
        return options.mutex.run(key, () => remove(opts));
      },
    };
  }

  return {
    async create(opts = {}) {
      const id = parseUploadId(randomUUID());
      const startedAt = new Date(formatStartedAt(new Date()));
      await driver.putContent(uploadStartedAtPath(name, id), Buffer.from(formatStartedAt(startedAt)), {
        signal: opts.signal,
      });
      return session(id, startedAt, 0);
    },

    async resume(id, opts = {}) {
      const startedAt = await readStartedAt(id, opts);
      return session(id, startedAt, (await dataSize(id, opts)) ?? 0);
    },
  };
}
