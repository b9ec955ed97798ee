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
import {
  closeSync,
  type Dirent,
  close as fsClose,
  open as fsOpen,
  read as fsRead,
  fstatSync,
  openSync,
  readdirSync,
  readSync,
  type Stats,
  statfsSync,
  statSync,
} from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { copyFile, mkdir, open, readdir, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { FileInfo, FileWriter, StorageDriver } from '../driver.js';
import { ContentTooLargeError, InvalidOffsetError, PathNotFoundError } from '../errors.js';
import { joinPath, ROOT_PATH, validatePath, walkTree } from '../paths.js';
import { abortable, checkRead } from './common.js';
import { createContentCache, createListingCache } from './content-cache.js';
import { type DirectWrites, writeBatched } from './file-batch-writer.js';
import { FileRangeReader } from './file-range-reader.js';
import { WriterLifecycle } from './writer-state.js';

export interface FilesystemDriverOptions {
  /** Directory holding the driver's tree; relative paths are resolved against the working directory. */
  rootdirectory: string;
  /**
   * For a batch command that serves nothing meanwhile (offline garbage collection): when the root
   * is on a local filesystem, `stat`, and `getContent` and `list` with `uncached`, use synchronous
   * calls. A scan makes tens of thousands of them against the page cache, where each takes a few
   * microseconds, while a thread-pool round trip costs 15–45 µs of CPU on a small virtual machine.
   * Deletions, writes and everything else still go through the pool, in parallel.
   */
  batch?: boolean;
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

/** Like mapAbsent, for reads of a file: a directory opens, but reading it fails with EISDIR. */
function mapNotAFile(error: unknown, path: string): unknown {
  return errorCode(error) === 'EISDIR' ? new PathNotFoundError(path, { cause: error }) : mapAbsent(error, path);
}

/** The first read's size when no stat told the size: links and most manifests fit, in a pooled buffer. */
const UNCACHED_READ_GUESS = 4 * 1024 - 1;

function emptyStream(): Readable {
  return new Readable({
    read() {
      this.push(null);
    },
  });
}

export function createFilesystemDriver(options: FilesystemDriverOptions): StorageDriver {
  const root = resolve(options.rootdirectory);
  // Validation guarantees components without '.'/'..', so the join cannot leave the root.
  const full = (path: string): string => (path === ROOT_PATH ? root : join(root, path));
  const contents = createContentCache();
  /** Whether the root is on a local filesystem; learnt at the first cached read (the root may not exist before). */
  let localRoot: boolean | undefined;
  const listings = createListingCache();
  const direct: DirectWrites = { enabled: options.directio !== false };

  async function openExisting(path: string, flags: string): Promise<FileHandle> {
    try {
      return await open(full(path), flags);
    } catch (error) {
      throw mapAbsent(error, path);
    }
  }

  function onLocalRoot(): boolean {
    if (localRoot === undefined) localRoot = isLocalFilesystem(root);
    return localRoot;
  }

  /**
   * How a read goes: synchronously on a local disk when the inode is surely in the kernel's cache
   * (`hot`: a path this process cached, read or wrote moments ago, such as an upload's own
   * files), and for a batch command's scans (see {@link FilesystemDriverOptions.batch});
   * otherwise through the thread pool. A cached `stat` takes a few microseconds of CPU, where a
   * thread-pool round trip costs 15–45 µs (measured on the 2-core benchmark machine) and waits
   * behind any fsync occupying the pool's four threads; a miss may touch the disk, which must not
   * stall the event loop. On a network filesystem (NFS, SMB, FUSE…) even a cached inode may cost
   * a round trip, or hang with the server: there every call goes through the pool.
   */
  function scanIo(hot?: boolean): ScanIo {
    return (options.batch === true || hot === true) && onLocalRoot() ? SYNCHRONOUS_IO : THREAD_POOL_IO;
  }

  async function describe(path: string, recent?: boolean): Promise<FileInfo> {
    try {
      const st = await scanIo(recent).stat(full(path));
      return { path, size: st.isDirectory() ? 0 : st.size, modTime: st.mtime, isDir: st.isDirectory() };
    } catch (error) {
      // The root is a directory by definition, even before the first write creates it on disk.
      if (path === ROOT_PATH && isAbsent(error)) return { path, size: 0, modTime: new Date(0), isDir: true };
      throw mapAbsent(error, path);
    }
  }

  /** The stat that validates a cached file or listing; synchronous when an entry is kept for the path. */
  async function validationStat(path: string, cached: boolean): Promise<Stats> {
    try {
      return await scanIo(cached).stat(full(path));
    } catch (error) {
      throw mapAbsent(error, path);
    }
  }

  async function childNames(path: string, io = THREAD_POOL_IO): Promise<string[]> {
    try {
      return (await io.readdir(full(path))).filter((name) => !isTempName(name));
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
      if (opts?.uncached === true) {
        // No stat: the size is learnt by reading, the file's kind from open and read.
        const io = scanIo(opts.recent);
        const content = await readWhole(full(path), UNCACHED_READ_GUESS, limit, io).catch((error: unknown) => {
          throw mapNotAFile(error, path);
        });
        if (limit !== undefined && content.length > limit) throw new ContentTooLargeError(path, limit);
        return content;
      }
      const current = await validationStat(path, contents.has(path));
      if (current.isDirectory()) throw new PathNotFoundError(path);
      if (limit !== undefined && current.size > limit) throw new ContentTooLargeError(path, limit);
      const cached = contents.get(path, current);
      if (cached !== undefined) return cached;
      let content: Buffer;
      try {
        content = await readWhole(full(path), current.size, limit);
      } catch (error) {
        throw mapNotAFile(error, path);
      }
      // The file may have grown or been replaced since the stat (an append in progress).
      if (limit !== undefined && content.length > limit) throw new ContentTooLargeError(path, limit);
      contents.set(path, current, content);
      return content;
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
      const { offset, length } = checkRead(path, opts);
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
      return abortable(stream, opts?.signal);
    },

    async writer(path, opts) {
      validatePath(path);
      opts?.signal?.throwIfAborted();
      const target = full(path);
      if (opts?.append === true) {
        let created = true;
        let handle: FileHandle;
        try {
          handle = await openMakingParent(target, 'ax');
        } catch (error) {
          if (errorCode(error) !== 'EEXIST') throw error;
          created = false;
          handle = await open(target, 'a');
        }
        try {
          // An open file's fstat never waits for the disk on a local filesystem.
          const st = onLocalRoot() ? fstatSync(handle.fd) : await handle.stat();
          return createFileWriter({ handle, target, initialSize: st.size, append: { created, direct } });
        } catch (error) {
          await handle.close();
          throw error;
        }
      }
      const tmp = tempPathFor(target);
      const handle = await openMakingParent(tmp, 'wx');
      return createFileWriter({ handle, target, initialSize: 0, tmp });
    },

    async stat(path, opts) {
      validatePath(path, true);
      opts?.signal?.throwIfAborted();
      return describe(path, opts?.recent);
    },

    async list(path, opts) {
      validatePath(path, true);
      opts?.signal?.throwIfAborted();
      if (opts?.uncached === true) {
        return (await childNames(path, scanIo())).sort().map((name) => joinPath(path, name));
      }
      let current: Stats | undefined;
      try {
        current = await validationStat(path, listings.has(path));
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
      // Made first rather than after a failed rename: every new blob moves into a directory of its own.
      await makeParent(dst);
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
        await removeTree(full(path));
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

const openFd = promisify(fsOpen);
const readFd = promisify(fsRead);
const closeFd = promisify(fsClose);

/** The calls scans make, through the thread pool or synchronously (see FilesystemDriverOptions.batch). */
interface ScanIo {
  open(path: string, flags: string): Promise<number>;
  /** @returns the bytes read at the file's current position. */
  read(fd: number, buffer: Buffer, offset: number, length: number): Promise<number>;
  close(fd: number): Promise<void>;
  readdir(path: string): Promise<string[]>;
  stat(path: string): Promise<Stats>;
}

const THREAD_POOL_IO: ScanIo = {
  open: (path, flags) => openFd(path, flags),
  read: async (fd, buffer, offset, length) => (await readFd(fd, buffer, offset, length, null)).bytesRead,
  close: (fd) => closeFd(fd),
  readdir: (path) => readdir(path),
  stat: (path) => stat(path),
};

// Async wrappers, so a failing call rejects like its thread-pool twin instead of throwing.
const SYNCHRONOUS_IO: ScanIo = {
  open: async (path, flags) => openSync(path, flags),
  read: async (fd, buffer, offset, length) => readSync(fd, buffer, offset, length, null),
  close: async (fd) => closeSync(fd),
  readdir: async (path) => readdirSync(path),
  stat: async (path) => statSync(path),
};

/**
 * Reads a whole file whose stat said `expectedSize` bytes: open, one read, close, with callback
 * fs calls (a FileHandle's readFile adds an fstat and a read to detect the end, and garbage
 * collection of handles). One byte more is asked for, so a file that grew since the stat is
 * noticed and read to its end (or past `maxBytes`, where reading stops); a shorter read of a
 * regular file means its end was reached.
 */
async function readWhole(
  path: string,
  expectedSize: number,
  maxBytes = Number.POSITIVE_INFINITY,
  io: ScanIo = THREAD_POOL_IO,
): Promise<Buffer> {
  const fd = await io.open(path, 'r');
  try {
    let buffer = Buffer.allocUnsafe(expectedSize + 1);
    let filled = 0;
    for (;;) {
      const bytesRead = await io.read(fd, buffer, filled, buffer.length - filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
      if (filled < buffer.length || filled > maxBytes) break;
      const grown = Buffer.allocUnsafe(buffer.length * 2);
      buffer.copy(grown, 0, 0, filled);
      buffer = grown;
    }
    return buffer.subarray(0, filled);
  } finally {
    await io.close(fd);
  }
}

/**
 * Removes a file or a directory tree. Registry directories hold a file or two (`data`, `link`):
 * listing with entry types and unlinking directly costs three system calls for such a directory,
 * where `rm({ recursive: true })` stats every entry and retries rmdir. Anything unexpected (a
 * concurrent writer adding entries, permissions) falls back to `rm`.
 */
async function removeTree(path: string): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch (error) {
    if (errorCode(error) === 'ENOTDIR') return unlink(path);
    throw error;
  }
  try {
    await Promise.all(
      entries.map((entry) => {
        const child = join(path, entry.name);
        return entry.isDirectory() ? removeTree(child) : unlink(child);
      }),
    );
    await rmdir(path);
  } catch {
    // What was listed existed: whatever went wrong, the tree goes (or rm reports why it cannot).
    await rm(path, { recursive: true, force: true });
  }
}

/** statfs `f_type` magic numbers of filesystems whose metadata calls may leave the machine. */
const NETWORK_FILESYSTEMS = new Set([
  0x6969, // NFS
  0x517b, // SMB
  0xff534d42, // CIFS
  0xfe534d42, // SMB2
  0x00c36400, // CephFS
  0x65735546, // FUSE (s3fs, gcsfuse, sshfs…)
  0x01021997, // 9P
  0x5346414f, // AFS
  0x0bd00bd0, // Lustre
  0x01161970, // GFS2
  0x7461636f, // OCFS2
]);

/** Whether `dir` (or its nearest existing parent) is on a local filesystem; false when unknown. */
function isLocalFilesystem(dir: string): boolean {
  for (let current = dir; ; current = dirname(current)) {
    try {
      return !NETWORK_FILESYSTEMS.has(statfsSync(current).type);
    } catch (error) {
      if (!isAbsent(error) || dirname(current) === current) return false;
    }
  }
}

/**
 * Opens a file to create it, making its directory first when that is missing. Trying the open
 * first spares the mkdir (and the stat a recursive mkdir adds when the directory exists) where
 * the directory is usually there already: an upload's data beside its `startedat`.
 */
async function openMakingParent(path: string, flags: string): Promise<FileHandle> {
  try {
    return await open(path, flags);
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error;
  }
  await mkdir(dirname(path), { recursive: true });
  return open(path, flags);
}

/** Makes the parent directory of `path`: one system call when only the last level is missing or none is. */
async function makeParent(path: string): Promise<void> {
  const parent = dirname(path);
  try {
    await mkdir(parent);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT') await mkdir(parent, { recursive: true });
    else if (code !== 'EEXIST') throw error;
  }
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
  const lifecycle = new WriterLifecycle();

  return {
    get size() {
      return size;
    },

    async write(src, opts) {
      lifecycle.begin('write');
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
        lifecycle.end();
      }
    },

    async commit(opts) {
      lifecycle.assertReady('commit');
      opts?.signal?.throwIfAborted();
      // Closed while the handle is released, so nothing else touches it; committed once renamed.
      lifecycle.markClosed();
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
      lifecycle.markCommitted();
    },

    async close() {
      if (!lifecycle.markClosed()) return;
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
      const wasOpen = lifecycle.state === 'open';
      if (!lifecycle.markCancelled()) return;
      // A commit or close that got as far as 'closed' has closed the handle already.
      if (wasOpen) await handle.close();
      if (tmp !== undefined) await rm(tmp, { force: true });
      else await rm(target, { force: true });
    },
  };
}
