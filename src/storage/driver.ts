/**
 * The one storage-driver contract. A driver knows paths and bytes only: no HTTP, no
 * registry layout. Paths are absolute, '/'-separated, with components matching
 * `[A-Za-z0-9._-]+` (no '.' or '..'), like distribution's driver paths. Every call takes
 * an optional AbortSignal so an aborted request stops its storage work.
 */
import type { Readable } from 'node:stream';

export interface CallOptions {
  signal?: AbortSignal | undefined;
}

/** Options of the small reads a driver may cache (getContent, list). */
export interface CacheableReadOptions extends CallOptions {
  /**
   * The caller reads this path once, as part of a scan (garbage collection): a driver that caches
   * small reads neither consults nor fills its cache for it, saving the validation and the memory.
   */
  uncached?: boolean | undefined;
  /**
   * The caller wrote or read this path moments ago (an upload session's own files), so its inode
   * and bytes are in the kernel's caches: a driver on a local disk may answer without a round
   * trip through its I/O threads. A hint only; drivers may ignore it.
   */
  recent?: boolean | undefined;
}

export interface FileInfo {
  /** The driver path of the entry. */
  path: string;
  /** Size in bytes; 0 for directories. */
  size: number;
  modTime: Date;
  isDir: boolean;
}

export interface FileWriter {
  /** Bytes written so far, including any pre-existing content when appending. */
  readonly size: number;
  /**
   * Streams `src` to the end of the file with backpressure.
   * @returns the number of bytes written by this call.
   */
  write(src: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts?: CallOptions): Promise<number>;
  /**
   * Makes the content visible at the path, and durable, except for appending writers, whose data
   * may become durable only when it is moved into place (see {@link StorageDriver.move}). After
   * commit the writer accepts no more data; a later `writer(path, { append: true })` continues
   * the same content.
   */
  commit(opts?: CallOptions): Promise<void>;
  /** Releases resources without making new content visible beyond what was already committed. */
  close(): Promise<void>;
  /** Discards the file entirely. A no-op after commit, so it is safe in `finally`. */
  cancel(): Promise<void>;
}

export interface StorageDriver {
  /** Driver name as used in configuration (`filesystem`, `inmemory`, `s3`, …). */
  readonly name: string;
  /**
   * Reads a whole small object (links, manifests).
   * @throws PathNotFoundError when absent; ContentTooLargeError when larger than `maxBytes`.
   */
  getContent(path: string, opts?: CacheableReadOptions & { maxBytes?: number }): Promise<Buffer>;
  /**
   * Atomically replaces the object at `path` (readers see the old or the new content, never a mix).
   * With `durable: false` the content need not reach stable storage before this resolves (data that
   * is derived or worthless after a power loss); drivers without the distinction ignore it.
   */
  putContent(path: string, content: Uint8Array, opts?: CallOptions & { durable?: boolean }): Promise<void>;
  /**
   * Opens a stream of the object's bytes from `offset` (default 0), at most `length` bytes.
   * @throws PathNotFoundError when absent; InvalidOffsetError when `offset` > size.
   */
  reader(path: string, opts?: CallOptions & { offset?: number; length?: number }): Promise<Readable>;
  /**
   * Opens a writer. Without `append` any existing content is replaced on commit; with `append`
   * the writer continues after the existing (committed) content, creating the file if absent.
   */
  writer(path: string, opts?: CallOptions & { append?: boolean }): Promise<FileWriter>;
  /** @throws PathNotFoundError when neither a file nor a directory exists at `path`. */
  stat(path: string, opts?: CallOptions & Pick<CacheableReadOptions, 'recent'>): Promise<FileInfo>;
  /**
   * Lists the direct children of a directory as full driver paths, sorted lexically.
   * @throws PathNotFoundError when the directory does not exist.
   */
  list(path: string, opts?: CacheableReadOptions): Promise<string[]>;
  /**
   * Moves a file, replacing any file at `to` atomically; creates parent directories. The moved
   * content is durable at `to` when this resolves.
   * @throws PathNotFoundError when `from` is absent.
   */
  move(from: string, to: string, opts?: CallOptions): Promise<void>;
  /**
   * Deletes a file or a whole directory tree.
   * @throws PathNotFoundError when nothing exists at `path`.
   */
  delete(path: string, opts?: CallOptions): Promise<void>;
  /**
   * Yields every file and directory below `path` depth-first in lexical order of full paths.
   * `descend(info)` returning false skips a directory's children. Entries up to and including
   * `startAfter` are skipped. Yields nothing (no error) when `path` does not exist.
   */
  walk(
    path: string,
    opts?: CallOptions & { startAfter?: string; descend?: (info: FileInfo) => boolean },
  ): AsyncIterable<FileInfo>;
  /** A URL a client may fetch the object from directly, or undefined when the driver has none. */
  redirectURL?(path: string, method: 'GET' | 'HEAD', opts?: CallOptions): Promise<string | undefined>;
}
