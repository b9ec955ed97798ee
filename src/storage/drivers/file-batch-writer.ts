/**
 * Streams chunks into a file with one write in flight while the next ones arrive, in one of two
 * ways.
 *
 * Through the page cache (the default): chunks that arrive while a write runs are gathered and go
 * out together in one `writev`, so a slow disk gets fewer, larger writes instead of a thread-pool
 * round trip per 64 KiB socket read, and the producer (hashing, the socket) keeps running.
 *
 * With O_DIRECT (`direct`: append writers of upload data, see the filesystem driver): chunks are
 * copied into page-aligned staging buffers (stage-buffers.ts) and each full buffer is written
 * straight to the disk. Written through the page cache, every byte of a pushed blob is copied once
 * more by the kernel, into page-cache memory the machine must find first (costly on the 2-core
 * benchmark VM: 1–1.5 s of CPU per 256 MiB when the page cache has to grow), and is then written
 * back by the fsync that makes the blob durable, after the whole body arrived. Directly, the disk works
 * while the body is still arriving and the final fsync finds little to do. The price: a blob just
 * pushed is not in the page cache, so its first pull reads the disk.
 *
 * The O_DIRECT descriptor is opened O_APPEND like the writer's own, so every write of either kind
 * lands at the end of the file and bytes another process appended are never overwritten (the
 * upload code relies on sizes adding up). Memory offsets in a staging buffer match file offsets
 * modulo the block size; the part of a write before the first block boundary and after the last
 * one goes through the page cache. Bodies shorter than one staging buffer (those under
 * {@link SMALL_BYTES} in one `writev`, without staging), a file system that refuses O_DIRECT at
 * open (EINVAL: tmpfs before Linux 6.6, for one; then for good), and a write refused later (an end
 * of file left unaligned by another writer; then for the rest of that write) take the page cache.
 */
import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { acquireStage, releaseStage, STAGE_BYTES, type Stage } from './stage-buffers.js';

/** O_DIRECT offsets and lengths are multiples of this (512-byte and 4 KiB sector devices alike). */
const BLOCK = 4096;
/** Bytes gathered as they come and written in one `writev`, without staging: a small blob's body. */
const SMALL_BYTES = 256 * 1024;
/** O_DIRECT path: bytes written between two background `fdatasync`s (see {@link flushBehind}). */
const SYNC_EVERY_BYTES = 32 * 1024 * 1024;
/** Page-cache path: bytes gathered before the producer waits for the disk (backpressure). */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;

/** Whether one driver's files take O_DIRECT; turned off for good when its file system refuses it. */
export interface DirectWrites {
  enabled: boolean;
}

export interface BatchWriteOptions {
  signal?: AbortSignal | undefined;
  /** Told the count of bytes each time some reach the file. */
  onWritten: (n: number) => void;
  /**
   * For a file opened O_APPEND at `path`: large writes go through a second descriptor opened
   * with O_DIRECT, while `direct.enabled` holds. Omitted: every write goes through `handle`.
   */
  direct?: { path: string; writes: DirectWrites } | undefined;
}

function isRefusal(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
  return code === 'EINVAL' || code === 'EOPNOTSUPP';
}

/**
 * Writes `buf[from, to)` at the end of the file (or the handle's position), retrying short
 * writes; every byte count is reported as soon as it is in the file, so a writer that fails
 * halfway still knows what to cut off.
 */
async function writeRange(
  handle: FileHandle,
  buf: Uint8Array,
  from: number,
  to: number,
  onWritten: (n: number) => void,
): Promise<void> {
  let at = from;
  while (at < to) {
    const { bytesWritten } = await handle.write(buf, at, to - at, null);
    if (bytesWritten <= 0) throw new Error('a write to the file made no progress');
    onWritten(bytesWritten);
    at += bytesWritten;
  }
}

/**
 * Checks a chunk before either writer takes it: the signal, an earlier write's failure (`check`
 * throws it) and the chunk's type. @returns false for an empty chunk, which is skipped.
 */
function admit(chunk: Uint8Array, signal: AbortSignal | undefined, check: () => void): boolean {
  signal?.throwIfAborted();
  check();
  if (!(chunk instanceof Uint8Array)) throw new TypeError('writer accepts Uint8Array chunks only');
  return chunk.length > 0;
}

/** Writes all of `chunks`, retrying short writes, reporting byte counts as {@link writeRange} does. */
async function writeAll(handle: FileHandle, chunks: Uint8Array[], onWritten: (n: number) => void): Promise<void> {
  let pending = chunks;
  while (pending.length > 0) {
    const { bytesWritten } = await handle.writev(pending);
    onWritten(bytesWritten);
    let skip = bytesWritten;
    const rest: Uint8Array[] = [];
    for (const chunk of pending) {
      if (skip >= chunk.length) {
        skip -= chunk.length;
        continue;
      }
      rest.push(skip > 0 ? chunk.subarray(skip) : chunk);
      skip = 0;
    }
    pending = rest;
  }
}

/**
 * Writes every chunk of `src` to the end of the file behind `handle` (opened O_APPEND, or new and
 * written only here), in order. `position` is where the first byte lands: the file's size.
 * Rejects with the first write error or a non-Uint8Array chunk, and never while a write is still
 * running on the file.
 */
export function writeBatched(
  handle: FileHandle,
  src: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  position: number,
  opts: BatchWriteOptions,
): Promise<void> {
  const direct = opts.direct;
  if (direct?.writes.enabled && constants.O_DIRECT !== undefined) {
    return writeStaged(handle, src, position, { ...opts, direct });
  }
  return writeGathered(handle, src, opts);
}

/** Through the page cache: the chunks as they are, gathered into one `writev` while a write runs. */
async function writeGathered(
  handle: FileHandle,
  src: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  opts: BatchWriteOptions,
): Promise<void> {
  const { signal, onWritten } = opts;
  let queue: Uint8Array[] = [];
  let queued = 0;
  let flushing: Promise<void> | undefined;
  let failure: { error: unknown } | undefined;

  const flush = async (): Promise<void> => {
    while (queue.length > 0 && failure === undefined) {
      const batch = queue;
      queue = [];
      queued = 0;
      await writeAll(handle, batch, onWritten);
    }
  };
  const start = (): Promise<void> => {
    flushing ??= flush()
      .catch((error: unknown) => {
        failure ??= { error };
      })
      .finally(() => {
        flushing = undefined;
      });
    return flushing;
  };
  const check = (): void => {
    if (failure !== undefined) throw failure.error;
  };

  signal?.throwIfAborted();
  try {
    for await (const chunk of src) {
      if (!admit(chunk, signal, check)) continue;
      queue.push(chunk);
      queued += chunk.length;
      void start();
      while (queued >= MAX_QUEUED_BYTES && failure === undefined) await start();
    }
    while (queue.length > 0 && failure === undefined) await start();
    await flushing;
    check();
  } finally {
    // Never leave a write running on a handle the caller may close next.
    await flushing;
  }
}

/**
 * `fdatasync`s that outlive the writer that started them (see {@link flushBehind}); one at a time
 * per process, so they never crowd the thread pool. A writer that finds one running leaves its
 * bytes to the caller's fsync.
 */
let detachedSyncs = 0;
const MAX_DETACHED_SYNCS = 1;

/** How many background flushes were started while bodies arrived, and after writers ended. */
export const directFlushCounts = { during: 0, after: 0 };

/**
 * Background flushes of O_DIRECT writes. Such a write may still sit in the device's volatile
 * cache (on a virtual machine, the host's page cache), and the fsync that makes the blob durable
 * then waits for all of it at once: 0.2 s for 256 MiB on the benchmark machine, after the last
 * byte arrived. An `fdatasync` every {@link SYNC_EVERY_BYTES} while the body still arrives lets
 * the device flush as it goes, and one more when the writer ends (not waited for: the next chunk
 * of a chunked upload arrives meanwhile) leaves the caller's fsync little to do. These only ever
 * save time: the caller's fsync still decides durability, and a failed flush is its to report.
 * Alternating builds on the benchmark machine: a 256 MiB push 330–431 → 354–467 MiB/s, the
 * chunked push 233–314 → 306–383 MiB/s.
 */
function flushBehind(): { written(handle: FileHandle, n: number): void; end(handle: FileHandle): Promise<void> } {
  let unsynced = 0;
  let syncing: Promise<void> | undefined;
  return {
    written(handle, n) {
      unsynced += n;
      if (unsynced < SYNC_EVERY_BYTES || syncing !== undefined) return;
      unsynced = 0;
      directFlushCounts.during++;
      syncing = handle
        .datasync()
        .catch(() => undefined)
        .finally(() => {
          syncing = undefined;
        });
    },
    /** Closes `handle` now, or after a detached flush of what was written since the last one. */
    async end(handle) {
      await syncing;
      if (unsynced === 0 || detachedSyncs >= MAX_DETACHED_SYNCS) {
        await handle.close();
        return;
      }
      detachedSyncs++;
      directFlushCounts.after++;
      void handle
        .datasync()
        .catch(() => undefined)
        .finally(() => {
          detachedSyncs--;
          return handle.close().catch(() => undefined);
        });
    },
  };
}

/** With O_DIRECT where it can: chunks copied into aligned staging buffers, one write in flight. */
async function writeStaged(
  handle: FileHandle,
  src: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  position: number,
  opts: BatchWriteOptions & { direct: NonNullable<BatchWriteOptions['direct']> },
): Promise<void> {
  const { signal, onWritten, direct } = opts;
  const directFlag: number | undefined = constants.O_DIRECT;
  /** 'untried' until the first full staging buffer opens the O_DIRECT descriptor. */
  let directState: 'untried' | 'on' | 'off' = 'untried';
  let directHandle: FileHandle | undefined;

  let small: Uint8Array[] = [];
  let smallBytes = 0;
  let stage: Stage | undefined;
  /** Unused bytes at the start of `stage`: its memory offsets match file offsets modulo BLOCK. */
  let skip = 0;
  let fill = 0;
  /** File offset of the next byte to stage. */
  let offset = position;
  let inFlight: Promise<void> | undefined;
  let failure: { error: unknown } | undefined;
  const flushes = flushBehind();

  const check = (): void => {
    if (failure !== undefined) throw failure.error;
  };

  async function openDirect(): Promise<void> {
    if (directFlag === undefined) return;
    try {
      directHandle = await open(direct.path, constants.O_WRONLY | constants.O_APPEND | directFlag);
      directState = 'on';
    } catch (error) {
      directState = 'off';
      // The file system does not do O_DIRECT: no file of this driver will.
      if (isRefusal(error)) direct.writes.enabled = false;
    }
  }

  /** Writes `s.buf[from, to)`, with O_DIRECT when `direct` and that is accepted. */
  async function write(s: Stage, from: number, to: number, viaDirect: boolean): Promise<void> {
    if (viaDirect && directHandle !== undefined && directState === 'on') {
      try {
        await writeRange(directHandle, s.buf, from, to, onWritten);
        return;
      } catch (error) {
        // Refused before a byte was written (an end of file left unaligned by another writer, or
        // a file system that opens but does not write O_DIRECT): the rest goes through the page cache.
        if (!isRefusal(error)) throw error;
        directState = 'off';
      }
    }
    await writeRange(handle, s.buf, from, to, onWritten);
  }

  /** Writes the staged `s.buf[from, to)` once the write before it is done; owns `s` from now on. */
  async function submit(s: Stage, from: number, to: number): Promise<void> {
    try {
      await inFlight;
      check();
      if (directState === 'untried' && s.aligned && to === STAGE_BYTES) await openDirect();
    } catch (error) {
      releaseStage(s);
      throw error;
    }
    const running = (async () => {
      try {
        if (directState !== 'on' || !s.aligned) {
          await write(s, from, to, false);
          return;
        }
        // Up to the first block boundary and after the last one through the page cache, whole
        // blocks in between directly; memory and file offsets share their alignment.
        const head = Math.min(to, Math.ceil(from / BLOCK) * BLOCK);
        const tail = Math.max(head, Math.floor(to / BLOCK) * BLOCK);
        if (head > from) await write(s, from, head, false);
        if (tail > head) {
          await write(s, head, tail, true);
          if (directHandle !== undefined && directState === 'on') flushes.written(directHandle, tail - head);
        }
        if (to > tail) await write(s, tail, to, false);
      } catch (error) {
        failure ??= { error };
      } finally {
        releaseStage(s);
      }
    })();
    inFlight = running;
  }

  async function copyIn(chunk: Uint8Array): Promise<void> {
    let at = 0;
    while (at < chunk.length) {
      if (stage === undefined) {
        stage = acquireStage(directState !== 'off');
        skip = stage.aligned ? offset % BLOCK : 0;
        fill = skip;
      }
      const n = Math.min(chunk.length - at, STAGE_BYTES - fill);
      stage.buf.set(at === 0 && n === chunk.length ? chunk : chunk.subarray(at, at + n), fill);
      fill += n;
      at += n;
      offset += n;
      if (fill === STAGE_BYTES) {
        const full = stage;
        stage = undefined;
        await submit(full, skip, fill);
      }
    }
  }

  signal?.throwIfAborted();
  try {
    for await (const chunk of src) {
      if (!admit(chunk, signal, check)) continue;
      if (offset === position && smallBytes + chunk.length < SMALL_BYTES) {
        small.push(chunk);
        smallBytes += chunk.length;
        continue;
      }
      const gathered = small;
      small = [];
      smallBytes = 0;
      for (const piece of gathered) await copyIn(piece);
      await copyIn(chunk);
    }
    if (small.length > 0) {
      await writeAll(handle, small, onWritten);
    } else if (stage !== undefined) {
      const last = stage;
      stage = undefined;
      await submit(last, skip, fill);
    }
    await inFlight;
    check();
  } finally {
    // Never leave a write running on a file the caller may close or truncate next.
    await inFlight;
    if (stage !== undefined) releaseStage(stage);
    if (directHandle !== undefined) await flushes.end(directHandle);
  }
}
