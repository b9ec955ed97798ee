/** The filesystem reader's two ways out: a plain Readable and copyTo with reused buffers. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { isCopyable } from '../../src/storage/copyable.js';
import { CHUNK_BYTES, COPY_CHUNK_BYTES, FileRangeReader } from '../../src/storage/drivers/file-range-reader.js';
import { createFilesystemDriver } from '../../src/storage/drivers/filesystem.js';

async function withFile(data: Buffer, fn: (path: string, dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-range-reader-'));
  try {
    await writeFile(join(dir, 'data'), data);
    await fn(join(dir, 'data'), dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A writable that keeps copies of what it receives and acknowledges each write a little later,
 * after checking that the chunk it was given still holds those bytes: a buffer refilled before
 * its write was acknowledged would have sent other bytes than those read.
 */
function slowSink(): { sink: Writable; bytes: () => Buffer; overwritten: () => number } {
  const chunks: Buffer[] = [];
  let overwritten = 0;
  const sink = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _encoding, callback) {
      const copy = Buffer.from(chunk);
      chunks.push(copy);
      setTimeout(() => {
        if (!chunk.equals(copy)) overwritten++;
        callback();
      }, 2);
    },
  });
  return { sink, bytes: () => Buffer.concat(chunks), overwritten: () => overwritten };
}

const data = randomBytes(Math.max(3 * CHUNK_BYTES, 4 * COPY_CHUNK_BYTES) + 12345);

describe('filesystem range reader', () => {
  it('copies exactly the requested range, reusing buffers only after each write was flushed', async () => {
    await withFile(data, async (path) => {
      for (const [start, end] of [
        [0, data.length],
        [17, 2 * COPY_CHUNK_BYTES + 5],
        [COPY_CHUNK_BYTES, COPY_CHUNK_BYTES + 1],
        [3, 4000],
      ] as const) {
        const handle = await open(path, 'r');
        const reader = new FileRangeReader(handle, start, end);
        const { sink, bytes, overwritten } = slowSink();
        await reader.copyTo(sink);
        assert.ok(sink.writableFinished);
        assert.ok(reader.destroyed);
        assert.ok(bytes().equals(data.subarray(start, end)), `${start}-${end}`);
        assert.equal(overwritten(), 0, `${start}-${end}: a buffer was refilled before its write was acknowledged`);
      }
    });
  });

  it('reads the next part while the destination still sends the one before', { timeout: 10_000 }, async () => {
    await withFile(data, async (path) => {
      const handle = await open(path, 'r');
      let reads = 0;
      let releaseFirstWrite: (() => void) | undefined;
      // The destination acknowledges its first write only once a second read was made: a copy
      // that read only after the destination drained would wait here for ever.
      const watched = Object.create(handle) as typeof handle;
      watched.read = ((...args: Parameters<typeof handle.read>) => {
        reads++;
        if (reads === 2) releaseFirstWrite?.();
        return handle.read(...args);
      }) as typeof handle.read;
      watched.close = () => handle.close();
      let writes = 0;
      const sink = new Writable({
        highWaterMark: 1,
        write(_chunk, _encoding, callback) {
          writes++;
          if (writes === 1) releaseFirstWrite = () => setImmediate(callback);
          else setImmediate(callback);
        },
      });
      await new FileRangeReader(watched, 0, 3 * COPY_CHUNK_BYTES).copyTo(sink);
      assert.equal(writes, 3);
    });
  });

  it('reads as a plain Readable with one fresh buffer per chunk', async () => {
    await withFile(data, async (path) => {
      const reader = new FileRangeReader(await open(path, 'r'), 5, data.length - 5);
      const chunks: Buffer[] = [];
      for await (const chunk of reader) chunks.push(chunk as Buffer);
      assert.ok(Buffer.concat(chunks).equals(data.subarray(5, data.length - 5)));
      assert.equal(new Set(chunks.map((c) => c.buffer)).size, chunks.length);
    });
  });

  it('rejects and closes the file when the destination goes away mid-copy', async () => {
    await withFile(data, async (path) => {
      const handle = await open(path, 'r');
      const reader = new FileRangeReader(handle, 0, data.length);
      const out = new PassThrough({ highWaterMark: 1024 });
      out.once('data', () => out.destroy());
      await assert.rejects(reader.copyTo(out));
      await new Promise((resolve) => setImmediate(resolve));
      assert.ok(reader.destroyed);
      // The handle is closed: reading from it fails.
      await assert.rejects(handle.read(Buffer.alloc(1), 0, 1, 0));
    });
  });

  it('is what the driver hands out, and an abort signal stops a copy', async () => {
    await withFile(data, async (_path, dir) => {
      const driver = createFilesystemDriver({ rootdirectory: dir });
      const controller = new AbortController();
      const stream = await driver.reader('/data', { signal: controller.signal, offset: 1 });
      assert.ok(isCopyable(stream));
      const out = new Writable({
        highWaterMark: 1,
        write(_chunk, _encoding, callback) {
          controller.abort();
          setTimeout(callback, 5);
        },
      });
      await assert.rejects(stream.copyTo(out));
    });
  });
});
