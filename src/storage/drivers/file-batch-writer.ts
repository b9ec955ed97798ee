/**
 * Streams chunks into a file with one write in flight at a time: chunks that arrive while a
 * write runs are gathered and go out together in one `writev`. A fast disk sees the request's
 * chunks one by one; a slower one gets fewer, larger writes instead of a thread-pool round trip
 * per 64 KiB socket read, and the producer (hashing, the socket) keeps running meanwhile.
 */
import type { FileHandle } from 'node:fs/promises';

/** Bytes gathered before the producer waits for the disk (backpressure). */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;

/** Writes all of `chunks` at the file's current position, retrying short writes. */
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
 * Writes every chunk of `src` to `handle` in order; `onWritten` is told each byte count as it
 * reaches the file. Rejects with the first write error or a non-Uint8Array chunk.
 */
export async function writeBatched(
  handle: FileHandle,
  src: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  signal: AbortSignal | undefined,
  onWritten: (n: number) => void,
): Promise<void> {
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
      signal?.throwIfAborted();
      check();
      if (!(chunk instanceof Uint8Array)) throw new TypeError('writer accepts Uint8Array chunks only');
      if (chunk.length === 0) continue;
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
