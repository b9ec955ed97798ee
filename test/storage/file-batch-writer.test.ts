/**
 * Batched file writes: order kept across staging buffers and the O_DIRECT / page-cache split,
 * backpressure, errors surfaced with no write left running, and another writer's bytes never
 * overwritten.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type DirectWrites, directFlushCounts, writeBatched } from '../../src/storage/drivers/file-batch-writer.js';

const MIB = 1024 * 1024;

async function withFile(
  initial: Buffer,
  fn: (path: string, handle: Awaited<ReturnType<typeof open>>) => Promise<void>,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-batch-writer-'));
  const path = join(dir, 'data');
  await writeFile(path, initial);
  const handle = await open(path, 'a');
  try {
    await fn(path, handle);
  } finally {
    await handle.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function* chunked(data: Buffer, sizes: number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  let i = 0;
  while (at < data.length) {
    const n = sizes[i++ % sizes.length] ?? 1;
    yield data.subarray(at, at + n);
    at += n;
    if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('batched file writer', () => {
  const cases: Array<{ name: string; initial: number; body: number; sizes: number[] }> = [
    { name: 'a small body, gathered into one writev', initial: 0, body: 100 * 1024, sizes: [1, 4096, 9000] },
    { name: 'a body of several staging buffers from an empty file', initial: 0, body: 13 * MIB + 123, sizes: [65536] },
    { name: 'after an unaligned end of file', initial: 5000, body: 9 * MIB + 7, sizes: [65536, 1000, 77777] },
    { name: 'after an aligned end of file', initial: 8192, body: 8 * MIB, sizes: [4096 * 3] },
    { name: 'a body just over the small limit', initial: 3, body: 256 * 1024 + 1, sizes: [256 * 1024, 1] },
  ];
  for (const { name, initial, body, sizes } of cases) {
    for (const enabled of [true, false]) {
      it(`writes ${name} in order (O_DIRECT ${enabled ? 'allowed' : 'off'})`, async () => {
        const before = randomBytes(initial);
        const data = randomBytes(body);
        await withFile(before, async (path, handle) => {
          const writes: DirectWrites = { enabled };
          let reported = 0;
          await writeBatched(handle, chunked(data, sizes), initial, {
            direct: { path, writes },
            onWritten: (n) => {
              reported += n;
            },
          });
          assert.equal(reported, body);
          assert.ok((await readFile(path)).equals(Buffer.concat([before, data])));
        });
      });
    }
  }

  it('flushes O_DIRECT writes while the body arrives and after it, and a writer right behind appends correctly', async () => {
    const first = randomBytes(40 * MIB + 5);
    const second = randomBytes(8 * MIB + 3);
    await withFile(Buffer.alloc(0), async (path, handle) => {
      const before = { ...directFlushCounts };
      const writes: DirectWrites = { enabled: true };
      await writeBatched(handle, chunked(first, [65536]), 0, { direct: { path, writes }, onWritten: () => {} });
      assert.ok(writes.enabled, 'this test needs a file system that takes O_DIRECT');
      assert.ok(directFlushCounts.during > before.during, 'no flush while the 40 MiB body arrived');
      // As the next PATCH of a chunked upload does, while the last flush may still run.
      await writeBatched(handle, chunked(second, [65536]), first.length, {
        direct: { path, writes },
        onWritten: () => {},
      });
      assert.ok(directFlushCounts.after > before.after, 'no flush after a writer ended');
      assert.ok((await readFile(path)).equals(Buffer.concat([first, second])));
    });
  });

  it('goes on through the page cache when O_DIRECT cannot be opened', async () => {
    const data = randomBytes(9 * MIB);
    await withFile(Buffer.alloc(0), async (path, handle) => {
      const writes: DirectWrites = { enabled: true };
      // A directory cannot be opened for writing: the writer must fall back, not fail.
      await writeBatched(handle, chunked(data, [65536]), 0, {
        direct: { path: join(path, '..'), writes },
        onWritten: () => {},
      });
      assert.ok((await readFile(path)).equals(data));
    });
  });

  it('appends after bytes another writer added meanwhile, never over them', async () => {
    const data = randomBytes(12 * MIB);
    const foreign = Buffer.from('another writer');
    await withFile(Buffer.alloc(0), async (path, handle) => {
      async function* source(): AsyncGenerator<Uint8Array> {
        for (let at = 0; at < data.length; at += MIB) {
          if (at === 6 * MIB) {
            // Wait until the first staging buffer reached the file, then append behind the writer's back.
            while ((await stat(path)).size < 4 * MIB) await new Promise((resolve) => setTimeout(resolve, 5));
            await appendFile(path, foreign);
          }
          yield data.subarray(at, at + MIB);
        }
      }
      await writeBatched(handle, source(), 0, { direct: { path, writes: { enabled: true } }, onWritten: () => {} });
      const expected = Buffer.concat([data.subarray(0, 4 * MIB), foreign, data.subarray(4 * MIB)]);
      assert.ok((await readFile(path)).equals(expected));
    });
  });

  it('rejects with the source error after the write in flight finished', async () => {
    await withFile(Buffer.alloc(0), async (path, handle) => {
      async function* source() {
        yield randomBytes(5 * MIB);
        throw new Error('client went away');
      }
      await assert.rejects(
        writeBatched(handle, source(), 0, { direct: { path, writes: { enabled: true } }, onWritten: () => {} }),
        /client went away/,
      );
      // The full staging buffer was written completely before the rejection: nothing is still running.
      assert.equal((await readFile(path)).length, 4 * MIB);
    });
  });

  it('rejects chunks that are not bytes, and stops on abort', async () => {
    await withFile(Buffer.alloc(0), async (_path, handle) => {
      await assert.rejects(
        writeBatched(handle, ['text' as unknown as Uint8Array], 0, { onWritten: () => {} }),
        TypeError,
      );
      const controller = new AbortController();
      async function* source() {
        yield Buffer.from('a');
        controller.abort();
        yield Buffer.from('b');
      }
      await assert.rejects(writeBatched(handle, source(), 0, { signal: controller.signal, onWritten: () => {} }), {
        name: 'AbortError',
      });
    });
  });
});
