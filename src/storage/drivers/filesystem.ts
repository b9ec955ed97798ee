/**
 * The filesystem driver: driver path `/a/b` is `<rootdirectory>/a/b`, byte-compatible with
 * distribution's filesystem driver, so a registry:2 data directory works as is.
 *
 * Differences from distribution worth knowing:
 * - Whole-object writes (putContent, non-append writers) go to a temp file next to the target,
 *   are fsynced and renamed over it, so readers never see a partial object.
 * - An append writer appends to the file in place (bytes are visible before commit, as in
 *   distribution); close() without commit truncates the file back to its committed size (or
 *   removes it when the writer created it), so a failed upload chunk leaves no partial tail.
 *   Its commit does not fsync: upload sessions are worthless after a power loss anyway, and
 *   move() fsyncs the file before it becomes a blob, so a pushed blob is synced once, not per chunk.
 * - An append writer writes large bodies with O_DIRECT, still at the end of the file
 *   (`directio`, default on; see file-batch-writer.ts): a blob just pushed is not in the page cache.
 * - putContent with `durable: false` skips the fsync (derived data: session metadata, indexes).
 * - Empty directories are left behind by delete and move, as distribution does; a later
 *   prune would race with concurrent writers creating files below them.
 */
import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { copyFile, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { addAbortSignal, Readable } from 'node:stream';
import type { FileInfo, FileWriter, StorageDriver } from '../driver.js';
import { ContentTooLargeError, InvalidOffsetError, PathNotFoundError } from '../errors.js';
import { joinPath, ROOT_PATH, validatePath, walkTree } from '../paths.js';
import { createContentCache, createListingCache } from './content-cache.js';
import { type DirectWrites, writeBatched } from './file-batch-writer.js';
import { FileRangeReader } from './file-range-reader.js';

export interface FilesystemDriverOptions {
  /** Directory holding the driver's tree; relative paths are resolved against the working directory. */
  rootdirectory: string;
  /**
   * Whether large appends to upload data use O_DIRECT (default true; it turns itself off on a
   * file system that refuses it). See file-batch-writer.ts.
   */
  directio?: boolean | undefined;
}

/** Keeps temp names within NAME_MAX even for long target names. */
const TEMP_BASE_MAX = 100;
const TEMP_NAME = /^\..*\.[0-9a-f]{16}\.tmp$/;

/** Whether a directory entry is one of this driver's in-flight temp files (hidden from list/walk). */
export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

function tempPathFor(target: string): string {
  const base = basename(target).slice(0, TEMP_BASE_MAX);
  return join(dirname(target), `.${base}.${randomBytes(8).toString('hex')}.tmp`);
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}

/** ENOENT, and ENOTDIR when a path component is a file: both mean nothing exists at the path. */
function isAbsent(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function mapAbsent(error: unknown, path: string): unknown {
  return isAbsent(error) ? new PathNotFoundError(path, { cause: error }) : error;
}

function emptyStream(): Readable {
  return new Readable({
    read() {
      this.push(null);
    },
  });
}

function checkOffset(path: string, offset: number, length: number | undefined): void {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new InvalidOffsetError(path, offset);
  if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) {
    throw new RangeError(`invalid length ${length} for ${path}`);
  }
}

export function createFilesystemDriver(options: FilesystemDriverOptions): StorageDriver {
  const root = resolve(options.rootdirectory);
  // Validation guarantees components without '.'/'..', so the join cannot leave the root.
  const full = (path: string): string => (path === ROOT_PATH ? root : join(root, path));
  const contents = createContentCache();
  const listings = createListingCache();
  const direct: DirectWrites = { enabled: options.directio !== false };

  async function openExisting(path: string, flags: string): Promise<FileHandle> {
    try {
      return await open(full(path), flags);
    } catch (error) {
      throw mapAbsent(error, path);
    }
  }

  async function describe(path: string): Promise<FileInfo> {
    try {
      const st = await stat(full(path));
      return { path, size: st.isDirectory() ? 0 : st.size, modTime: st.mtime, isDir: st.isDirectory() };
    } catch (error) {
      // The root is a directory by definition, even before the first write creates it on disk.
      if (path === ROOT_PATH && isAbsent(error)) return { path, size: 0, modTime: new Date(0), isDir: true };
      throw mapAbsent(error, path);
    }
  }

  async function childNames(path: string): Promise<string[]> {
    try {
      return (await readdir(full(path))).filter((name) => !isTempName(name));
    } catch (error) {
      if (path === ROOT_PATH && errorCode(error) === 'ENOENT') return [];
      throw mapAbsent(error, path);
    }
  }

  return {
    name: 'filesystem',

    async getContent(path, opts) {
      validatePath(path);
      opts?.signal?.throwIfAborted();
      const limit = opts?.maxBytes;
      let current: Stats;
      try {
        current = await stat(full(path));
      } catch (error) {
        throw mapAbsent(error, path);
      }
      if (current.isDirectory()) throw new PathNotFoundError(path);
      if (limit !== undefined && current.size > limit) throw new ContentTooLargeError(path, limit);
      const cached = contents.get(path, current);
      if (cached !== undefined) return cached;
      const handle = await openExisting(path, 'r');
      try {
        const st = await handle.stat();
        if (st.isDirectory()) throw new PathNotFoundError(path);
        if (limit !== undefined && st.size > limit) throw new ContentTooLargeError(path, limit);
        const content = await handle.readFile(opts?.signal ? { signal: opts.signal } : {});
        // The file may have grown between fstat and read (an append in progress).
        if (limit !== undefined && content.length > limit) throw new ContentTooLargeError(path, limit);
        contents.set(path, st, content);
        return content;
      } finally {
        await handle.close();
      }
    },

    async putContent(path, content, opts) {
      validatePath(path);
      opts?.signal?.throwIfAborted();
      const target = full(path);
      await mkdir(dirname(target), { recursive: true });
      const tmp = tempPathFor(target);
      try {
        const handle = await open(tmp, 'wx');
        try {
          await handle.writeFile(content, opts?.signal ? { signal: opts.signal } : {});
          if (opts?.durable !== false) await handle.sync();
        } finally {
          await handle.close();
        }
        opts?.signal?.throwIfAborted();
        await rename(tmp, target);
      } catch (error) {
        await rm(tmp, { force: true });
        throw error;
      }
    },

    async reader(path, opts) {
      validatePath(path);
      const offset = opts?.offset ?? 0;
      const length = opts?.length;
      checkOffset(path, offset, length);
      opts?.signal?.throwIfAborted();
      const handle = await openExisting(path, 'r');
      let stream: Readable;
      try {
        const st = await handle.stat();
        if (st.isDirectory()) throw new PathNotFoundError(path);
        if (offset > st.size) throw new InvalidOffsetError(path, offset);
        if (length === 0 || offset === st.size) {
          await handle.close();
          stream = emptyStream();
        } else {
          const end = length === undefined ? st.size : Math.min(st.size, offset + length);
          stream = new FileRangeReader(handle, offset, end);
        }
      } catch (error) {
        await handle.close();
        throw error;
      }
      return opts?.signal ? addAbortSignal(opts.signal, stream) : stream;
    },

    async writer(path, opts) {
      validatePath(path);
      opts?.signal?.throwIfAborted();
      const target = full(path);
      await mkdir(dirname(target), { recursive: true });
      if (opts?.append === true) {
        let created = true;
        let handle: FileHandle;
        try {
          handle = await open(target, 'ax');
        } catch (error) {
          if (errorCode(error) !== 'EEXIST') throw error;
          created = false;
          handle = await open(target, 'a');
        }
        try {
          const st = await handle.stat();
          return createFileWriter({ handle, target, initialSize: st.size, append: { created, direct } });
        } catch (error) {
          await handle.close();
          throw error;
        }
      }
      const tmp = tempPathFor(target);
      const handle = await open(tmp, 'wx');
      return createFileWriter({ handle, target, initialSize: 0, tmp });
    },

    async stat(path, opts) {
      validatePath(path, true);
      opts?.signal?.throwIfAborted();
      return describe(path);
    },

    async list(path, opts) {
      validatePath(path, true);
      opts?.signal?.throwIfAborted();
      let current: Stats | undefined;
      try {
        current = await stat(full(path));
      } catch {
        // childNames reports a missing directory the contract's way.
      }
      const cached = current === undefined ? undefined : listings.get(path, current);
      if (cached !== undefined) return cached.slice();
      const listed = (await childNames(path)).sort().map((name) => joinPath(path, name));
      if (current?.isDirectory() === true) listings.set(path, current, listed.slice());
      return listed;
    },

    async move(from, to, opts) {
      validatePath(from);
      validatePath(to);
      opts?.signal?.throwIfAborted();
      const src = full(from);
      const dst = full(to);
      // Appending writers do not fsync (see commit): the data becomes durable here, before it is visible at `to`.
      await syncFile(src, from);
      try {
        await rename(src, dst);
        return;
      } catch (error) {
        const code = errorCode(error);
        if (code === 'EXDEV') return moveAcrossDevices(src, dst);
        if (!isAbsent(error)) throw error;
      }
      // Either the source is absent or the destination's parent is: only the latter is worth a mkdir.
      await describe(from);
      await mkdir(dirname(dst), { recursive: true });
      try {
        await rename(src, dst);
      } catch (error) {
        if (errorCode(error) === 'EXDEV') return moveAcrossDevices(src, dst);
        throw mapAbsent(error, from);
      }
    },

    async delete(path, opts) {
      validatePath(path);
      opts?.signal?.throwIfAborted();
      try {
        await rm(full(path), { recursive: true });
      } catch (error) {
        throw mapAbsent(error, path);
      }
    },

    async *walk(path, opts) {
      validatePath(path, true);
      if (opts?.startAfter !== undefined) validatePath(opts.startAfter, true);
      yield* walkTree<FileInfo>(
        {
          names: async (dir) => {
            try {
              return (await readdir(full(dir))).filter((name) => !isTempName(name));
            } catch (error) {
              if (isAbsent(error)) return undefined;
              throw error;
            }
          },
          info: async (p) => {
            try {
              return await describe(p);
            } catch (error) {
              if (error instanceof PathNotFoundError) return undefined;
              throw error;
            }
          },
        },
        path,
        { signal: opts?.signal, startAfter: opts?.startAfter, descend: opts?.descend },
      );
    },
  };
}

/** fsyncs a file (cheap when it has no dirty pages). @throws PathNotFoundError when absent */
async function syncFile(path: string, driverPath: string): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw mapAbsent(error, driverPath);
  }
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Rename cannot cross mount points: copy next to the destination, fsync, rename, then unlink. */
async function moveAcrossDevices(src: string, dst: string): Promise<void> {
  await mkdir(dirname(dst), { recursive: true });
  const tmp = tempPathFor(dst);
  try {
    await copyFile(src, tmp);
    const handle = await open(tmp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, dst);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  await rm(src, { force: true });
}

type WriterState = 'open' | 'committed' | 'closed' | 'cancelled';

interface FileWriterInit {
  handle: FileHandle;
  target: string;
  initialSize: number;
  /** Set for whole-object writers: the temp file renamed over `target` on commit. */
  tmp?: string;
  /**
   * Set for append writers: whether opening the writer created the file, and whether this
   * driver's files take O_DIRECT (see file-batch-writer.ts).
   */
  append?: { created: boolean; direct: DirectWrites };
}

function createFileWriter(init: FileWriterInit): FileWriter {
  const { handle, target, initialSize, tmp, append } = init;
  let size = initialSize;
  let state: WriterState = 'open';
  let writing = false;

  const ensureOpen = (what: string): void => {
    if (state !== 'open') throw new Error(`cannot ${what}: writer is ${state}`);
    if (writing) throw new Error(`cannot ${what}: a write is in progress`);
  };

  return {
    get size() {
      return size;
    },

    async write(src, opts) {
      ensureOpen('write');
      writing = true;
      let written = 0;
      try {
        await writeBatched(handle, src, size, {
          signal: opts?.signal,
          direct: append === undefined ? undefined : { path: target, writes: append.direct },
          onWritten: (n) => {
            written += n;
            size += n;
          },
        });
        return written;
      } finally {
        writing = false;
      }
    },

    async commit(opts) {
      ensureOpen('commit');
      opts?.signal?.throwIfAborted();
      state = 'closed';
      try {
        // Appended session data is made durable once, when move() puts it in place.
        if (tmp !== undefined) await handle.sync();
      } finally {
        await handle.close();
      }
      if (tmp !== undefined) {
        try {
          await rename(tmp, target);
        } catch (error) {
          await rm(tmp, { force: true });
          throw error;
        }
      }
      state = 'committed';
    },

    async close() {
      if (state !== 'open') return;
      state = 'closed';
      // Nothing new may stay visible: drop the temp file, or cut an appended tail back off.
      try {
        if (append !== undefined && !append.created && size !== initialSize) await handle.truncate(initialSize);
      } finally {
        await handle.close();
      }
      if (tmp !== undefined) await rm(tmp, { force: true });
      else if (append?.created) await rm(target, { force: true });
    },

    async cancel() {
      if (state === 'committed' || state === 'cancelled') return;
      const wasOpen = state === 'open';
      state = 'cancelled';
      if (wasOpen) await handle.close();
      if (tmp !== undefined) await rm(tmp, { force: true });
      else await rm(target, { force: true });
    },
  };
}
