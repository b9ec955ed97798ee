/**
 * The registry services' role interfaces. HTTP handlers talk to these only; decorators
 * (caches, notifications, proxying, access checks) wrap them with the same shapes.
 * Every method rejects with a RegistryError (see errors.ts) for a condition a client
 * caused, and with any other error for a fault.
 */
import type { Readable } from 'node:stream';
import type { StorageDriver } from '../storage/driver.js';
import type { Digest, RepositoryName, Tag, UploadId } from './names.js';

export interface CallOptions {
  signal?: AbortSignal | undefined;
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface BlobContent {
  descriptor: Descriptor;
  /** The requested bytes: `length` bytes starting at `offset`. */
  stream: Readable;
  offset: number;
  length: number;
}

export interface BlobStore {
  /**
   * Describes a blob linked into this repository.
   * @throws RegistryError BLOB_UNKNOWN when not linked here (or the data is gone).
   */
  stat(digest: Digest, opts?: CallOptions): Promise<Descriptor>;
  /**
   * Opens the blob's bytes. Without `length`, reads to the end. The caller has validated
   * the range against the size from `stat`, so `open` does not stat again when it can avoid it.
   * @throws RegistryError BLOB_UNKNOWN
   */
  open(digest: Digest, opts?: CallOptions & { offset?: number; length?: number; size?: number }): Promise<BlobContent>;
  /** A URL the client may be redirected to for the bytes, or undefined to serve them directly. */
  redirectURL(digest: Digest, method: 'GET' | 'HEAD', opts?: CallOptions): Promise<string | undefined>;
  /**
   * Links a blob that exists in `from` (or, when `from` is undefined, in any repository of
   * the registry) into this repository.
   * @returns the descriptor, or undefined when no source holds the blob (the caller then opens a session).
   */
  mount(digest: Digest, from: RepositoryName | undefined, opts?: CallOptions): Promise<Descriptor | undefined>;
  /**
   * Removes this repository's link to the blob (the data stays for garbage collection).
   * @throws RegistryError BLOB_UNKNOWN when not linked; UNSUPPORTED when deletes are disabled.
   */
  delete(digest: Digest, opts?: CallOptions): Promise<void>;
}

/**
 * The sha256 of a session's first `offset` bytes as a signed upload URL vouches for it. A commit
 * trusts it only when storage holds exactly `offset` bytes: session data is append-only, so
 * those are the bytes that were hashed.
 */
export interface KnownSha256 {
  offset: number;
  hex: string;
}

export interface UploadSession {
  readonly id: UploadId;
  readonly repository: RepositoryName;
  readonly startedAt: Date;
  /** Bytes received so far. */
  readonly size: number;
  /**
   * Appends a chunk. When `offset` is given it must equal `size`.
   * @returns the new size.
   * @throws UploadRangeError when `offset` ≠ size; RegistryError SIZE_INVALID when `expectedLength`
   *   is given and the body had another length (the session is left at its previous size).
   */
  append(
    body: AsyncIterable<Uint8Array>,
    opts?: CallOptions & { offset?: number; expectedLength?: number },
  ): Promise<number>;
  /**
   * Verifies the digest over all received bytes, moves the data into the blob store, links it
   * into the repository and removes the session. Idempotent per digest: a blob that already
   * exists is linked without being rewritten.
   * @throws RegistryError DIGEST_INVALID on mismatch (nothing stored, session removed);
   *   SIZE_INVALID when `size` is given and differs.
   */
  commit(digest: Digest, opts?: CallOptions & { size?: number; known?: KnownSha256 | undefined }): Promise<Descriptor>;
  /**
   * The sha256 (hex) of the session's first `size` bytes when this process hashed exactly those,
   * else undefined. The API hands it to the client inside the signed upload URL, so the `PUT`
   * may land on another process and still skip reading the session back.
   */
  sha256At(size: number): string | undefined;
  /** Removes the session and its data. */
  cancel(opts?: CallOptions): Promise<void>;
}

export interface UploadStore {
  /** Starts a new session. */
  create(opts?: CallOptions): Promise<UploadSession>;
  /**
   * Continues an existing session, from any process sharing the storage.
   * @throws RegistryError BLOB_UPLOAD_UNKNOWN
   */
  resume(id: UploadId, opts?: CallOptions): Promise<UploadSession>;
}

export interface StoredManifest {
  digest: Digest;
  mediaType: string;
  /** The exact bytes that were pushed. */
  payload: Buffer;
}

export interface PutManifestResult {
  digest: Digest;
  mediaType: string;
  /** The manifest's `subject` digest, when it has one (answered as `OCI-Subject`). */
  subject?: Digest;
}

export interface ManifestStore {
  /** @returns whether a revision with this digest is linked in the repository. */
  exists(digest: Digest, opts?: CallOptions): Promise<boolean>;
  /** @throws RegistryError MANIFEST_UNKNOWN */
  get(digest: Digest, opts?: CallOptions): Promise<StoredManifest>;
  /**
   * Validates and stores a manifest, then points `tag` at it when given; indexes its subject.
   * @throws RegistryError MANIFEST_INVALID (malformed, media type mismatch, bad schemaVersion),
   *   MANIFEST_BLOB_UNKNOWN (a referenced blob or child manifest is missing), TOO_LARGE,
   *   DIGEST_INVALID (when `expectedDigest` is given and differs).
   */
  put(
    payload: Buffer,
    contentType: string | undefined,
    opts?: CallOptions & { tag?: Tag; expectedDigest?: Digest },
  ): Promise<PutManifestResult>;
  /**
   * Deletes a revision, every tag pointing at it and its referrer index entry.
   * @throws RegistryError MANIFEST_UNKNOWN; UNSUPPORTED when deletes are disabled.
   */
  delete(digest: Digest, opts?: CallOptions): Promise<void>;
}

export interface ListPage {
  /** Lexically after this entry. */
  last?: string | undefined;
  /** At most this many entries; undefined means all. */
  limit?: number | undefined;
}

export interface TagStore {
  /** @throws RegistryError MANIFEST_UNKNOWN when the tag does not exist. */
  get(tag: Tag, opts?: CallOptions): Promise<Digest>;
  /** Points the tag at a manifest digest (atomic replace). */
  tag(tag: Tag, digest: Digest, opts?: CallOptions): Promise<void>;
  /** @throws RegistryError MANIFEST_UNKNOWN when the tag does not exist; UNSUPPORTED when deletes are disabled. */
  untag(tag: Tag, opts?: CallOptions): Promise<void>;
  /**
   * Tags in lexical order.
   * @throws RegistryError NAME_UNKNOWN when the repository does not exist.
   */
  list(page?: ListPage & CallOptions): Promise<string[]>;
  /** Tags currently pointing at `digest`. */
  lookup(digest: Digest, opts?: CallOptions): Promise<Tag[]>;
}

export interface ReferrerStore {
  /**
   * Descriptors of manifests whose `subject` is `digest`, each with `artifactType` and
   * `annotations`; filtered by artifactType when given. Empty (not an error) when none.
   */
  list(subject: Digest, opts?: CallOptions & { artifactType?: string }): Promise<Descriptor[]>;
}

export interface Repository {
  readonly name: RepositoryName;
  blobs(): BlobStore;
  uploads(): UploadStore;
  manifests(): ManifestStore;
  tags(): TagStore;
  referrers(): ReferrerStore;
}

export interface Registry {
  /** A handle on a repository; creating it touches no storage. */
  repository(name: RepositoryName): Repository;
  /** Repository names in lexical order. */
  catalog(page?: ListPage & CallOptions): Promise<string[]>;
}

export interface RegistryOptions {
  driver: StorageDriver;
  /** `storage.delete.enabled`: when false, deletes reject with UNSUPPORTED. */
  deleteEnabled: boolean;
  /** Largest manifest accepted, in bytes (default 4 MiB). */
  maxManifestBytes?: number;
}
