/**
 * Upload sessions kept in storage (`_uploads/<uuid>/data` and `startedat`), so any replica
 * sharing the storage can continue one. The running sha256 lives in an in-process map with the
 * byte count it covers; a process that lacks it (or holds a stale one) rebuilds it by reading
 * back only the bytes it has not hashed.
 *
 * Across replicas, that read-back is the whole cost of a commit landing elsewhere: skopeo and
 * docker send a layer as one `PATCH` then a `PUT`, so behind a round-robin balancer the `PUT`
 * usually reaches a replica that hashed nothing and must read the whole layer back. Measured with
 * bench/upload-hash.ts on a 2-core machine over local disk, the commit of a 256 MiB upload on
 * another replica took 1.1–2.8 s with the re-read and ≈40 ms from a saved state; on an object store
 * the re-read is a full download, billed as egress, while the client waits for its `201`.
 *
 * So with `hashes: resumableSha256` — chosen when `http.secret` is configured, i.e. when other
 * processes can continue our sessions at all — every chunk also saves the hash state to storage
 * (`berth-hashstates/sha256/<offset>`, see upload-hash.ts) and any replica continues from it. The
 * price: hash-wasm hashes at about a quarter of native speed (idle core: 358 vs 1480 MiB/s; busy:
 * 124 vs 444 MiB/s), still above what a network usually delivers, plus one stat and one small write
 * per chunk. Without a configured secret the native hash and the re-read stay, and so they do for
 * a secret the `http.workers` primary made up (see http/shared-state.ts). A missing state (a
 * failed write, a chunk taken by a registry:2 replica) only means a re-read of the bytes after the
 * newest state there is.
 *
 * Trust: a state vouches for bytes this process hashed; it is saved only when storage holds exactly
 * that many bytes after the chunk, so two replicas appending to one session at once (a misbehaving
 * client) leave no state and the commit re-reads what storage really holds. A driver whose
 * concurrent appends can replace each other at the same size defeats that check (registry:2's own
 * hash states, saved without any check, share the exposure).
 *
 * A chunk is all-or-nothing: it goes through an appending writer that is committed only when the
 * whole chunk arrived with the announced length, so a failed chunk leaves the session at its
 * previous size and usable.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { StorageDriver } from '../storage/driver.js';
import { ContentTooLargeError, isPathNotFound } from '../storage/errors.js';
import type { GlobalBlobStore } from './blob-store.js';
import { RegistryError, UploadRangeError } from './errors.js';
import type { LinkFence } from './link-fence.js';
import { deleteIfExists, listIfExists, writeLink } from './links.js';
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
import {
  lastComponent,
  layerLinkPath,
  uploadDataPath,
  uploadDir,
  uploadHashStatePath,
  uploadHashStatesDir,
  uploadStartedAtPath,
} from './paths.js';
import type { CallOptions, KnownSha256, UploadSession, UploadStore } from './types.js';
import {
  decodeHashState,
  encodeHashState,
  MAX_STATE_FILE_BYTES,
  nativeSha256,
  type RunningHash,
  type RunningHashFactory,
} from './upload-hash.js';

/** A running sha256 over the first `covered` bytes of a session's data. */
export interface UploadHashState {
  hash: RunningHash;
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
  /**
   * The running hash: {@link nativeSha256} (default) when only this process continues its
   * sessions, {@link resumableSha256} to save states other replicas continue from.
   */
  hashes?: RunningHashFactory | undefined;
  /** Online garbage collection's fence: a commit announces its blob before adopting it. */
  fence?: LinkFence | undefined;
}

/** Distribution writes `time.Now().UTC().Format(time.RFC3339)`: whole seconds, `Z`. */
function formatStartedAt(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

export function createUploadStore(options: UploadStoreOptions): UploadStore {
  const { driver, name } = options;

  async function dataSize(id: UploadId, opts: CallOptions): Promise<number | undefined> {
    try {
      // A session's files were written by its previous request moments ago.
      return (await driver.stat(uploadDataPath(name, id), { signal: opts.signal, recent: true })).size;
    } catch (error) {
      if (isPathNotFound(error)) return undefined;
      throw error;
    }
  }

  async function readStartedAt(id: UploadId, opts: CallOptions): Promise<Date> {
    let text: string;
    try {
      // Read once per request and removed with the session: not worth a cache entry or its stat.
      const path = uploadStartedAtPath(name, id);
      text = (
        await driver.getContent(path, { signal: opts.signal, maxBytes: 256, uncached: true, recent: true })
      ).toString('utf8');
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

  const hashes = options.hashes ?? nativeSha256;

  function session(id: UploadId, startedAt: Date, initialSize: number): UploadSession {
    const key = `${name}\u0000${id}`;
    let size = initialSize;

    /** Feeds `hash` the stored bytes [from, to) of this session. */
    async function hashStored(
      hash: { update(chunk: Uint8Array): unknown },
      from: number,
      to: number,
      opts: CallOptions,
    ): Promise<void> {
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
        cached !== undefined && cached.covered <= base
          ? cached
          : ((await loadSavedHash(base, opts)) ?? { hash: await hashes.create(), covered: 0 });
      await hashStored(state.hash, state.covered, base, opts);
      state.covered = base;
      return state;
    }

    /** The saved state covering the most bytes up to `upTo`: the exact one first, else by listing. */
    async function loadSavedHash(upTo: number, opts: CallOptions): Promise<UploadHashState | undefined> {
      if (!hashes.resumable || upTo === 0) return undefined;
      const exact = await readSavedHash(upTo, opts);
      if (exact !== undefined) return exact;
      const offsets = (await listIfExists(driver, uploadHashStatesDir(name, id), opts))
        .map((path) => Number(lastComponent(path)))
        .filter((offset) => Number.isSafeInteger(offset) && offset > 0 && offset < upTo)
        .sort((a, b) => b - a);
      for (const offset of offsets) {
        const found = await readSavedHash(offset, opts);
        if (found !== undefined) return found;
      }
      return undefined;
    }

    async function readSavedHash(offset: number, opts: CallOptions): Promise<UploadHashState | undefined> {
      let bytes: Buffer;
      try {
        bytes = await driver.getContent(uploadHashStatePath(name, id, offset), {
          signal: opts.signal,
          maxBytes: MAX_STATE_FILE_BYTES,
        });
      } catch (error) {
        if (isPathNotFound(error) || error instanceof ContentTooLargeError) return undefined;
        throw error;
      }
      const saved = decodeHashState(bytes, offset);
      const hash = saved === undefined ? undefined : await hashes.restore(saved);
      return hash === undefined ? undefined : { hash, covered: offset };
    }

    /**
     * Saves the state after a chunk so another replica can continue without reading back. Only
     * when storage holds exactly the bytes this process hashed: a concurrent append from another
     * replica (a misbehaving client) must never leave a state that vouches for bytes it did not see.
     */
    async function saveHash(state: UploadHashState, opts: CallOptions): Promise<boolean> {
      const saved = state.hash.save();
      if (saved === undefined) return true;
      try {
        if ((await dataSize(id, opts)) !== state.covered) return false;
        // Not fsynced: a state is derived from the data and only saves re-reading it.
        await driver.putContent(uploadHashStatePath(name, id, state.covered), encodeHashState(state.covered, saved), {
          signal: opts.signal,
          durable: false,
        });
      } catch {
        // Only an optimisation: without the state the next replica re-reads the bytes instead.
      }
      return true;
    }

    async function computeDigest(
      algorithm: DigestAlgorithm,
      total: number,
      opts: CallOptions & { known?: KnownSha256 | undefined },
    ): Promise<Digest> {
      if (algorithm === 'sha256') {
        const cached = options.hashers.get(key);
        if (cached !== undefined && cached.covered === total) return digestFromHex('sha256', cached.hash.hex());
        if (opts.known !== undefined && opts.known.offset === total) return digestFromHex('sha256', opts.known.hex);
        const saved = await loadSavedHash(total, opts);
        if (saved !== undefined) {
          await hashStored(saved.hash, saved.covered, total, opts);
          return digestFromHex('sha256', saved.hash.hex());
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
            state.covered = size;
            if (await saveHash(state, opts)) options.hashers.set(key, state);
            return size;
          } finally {
            // Uncommitted bytes never become visible: the session stays at its previous size.
            if (!committed) await writer.close();
          }
        });
      },

      sha256At(at) {
        const cached = options.hashers.get(key);
        return cached !== undefined && cached.covered === at ? cached.hash.hex() : undefined;
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
          // adopt() checks storage itself, so after the fence an existing blob it keeps is one no collector deletes.
          if (options.fence !== undefined) await options.fence.protect([digest], opts);
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
      try {
        // Not fsynced: a session does not outlive a power loss in any useful way, and a blob push
        // then pays one fsync (its data, at commit) instead of two.
        await driver.putContent(uploadStartedAtPath(name, id), Buffer.from(formatStartedAt(startedAt)), {
          durable: false,
          signal: opts.signal,
        });
      } catch (error) {
        // An abort can land after the directory was made: leave no empty session behind.
        await deleteIfExists(driver, uploadDir(name, id)).catch(() => undefined);
        throw error;
      }
      return session(id, startedAt, 0);
    },

    async resume(id, opts = {}) {
      const startedAt = await readStartedAt(id, opts);
      return session(id, startedAt, (await dataSize(id, opts)) ?? 0);
    },
  };
}
