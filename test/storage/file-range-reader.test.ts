/** The filesystem reader's two ways out: a plain Readable and copyTo with reused buffers. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { isCopyable } from '../../src/storage/copyable.js';
import { CHUNK_BYTES, FileRangeReader } from '../../src/storage/drivers/file-range-reader.js';
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

/** A writable that keeps copies of what it receives and acknowledges each write a little later. */
function slowSink(): { sink: Writable; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(Buffer.from(chunk));
      setImmediate(callback);
    },
  });
  return { sink, bytes: () => Buffer.concat(chunks) };
}

const data = randomBytes(3 * CHUNK_BYTES + 12345);

describe('filesystem range reader', () => {
  it('copies exactly the requested range, reusing buffers only after each write was flushed', async () => {
    await withFile(data, async (path) => {
      for (const [start, end] of [
        [0, data.length],
        [17, 2 * CHUNK_BYTES + 5],
        [CHUNK_BYTES, CHUNK_BYTES + 1],
      ] as const) {
        const handle = await open(path, 'r');
        const reader = new FileRangeReader(handle, start, end);
        const { sink, bytes } = slowSink();
        await reader.copyTo(sink);
        assert.ok(sink.writableFinished);
        assert.ok(reader.destroyed);
        assert.ok(bytes().equals(data.subarray(start, end)), `${start}-${end}`);
      }
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
