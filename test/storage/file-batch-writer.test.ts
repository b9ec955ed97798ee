/** Batched file writes: order kept, backpressure, errors surfaced with no write left running. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { writeBatched } from '../../src/storage/drivers/file-batch-writer.js';

async function withHandle(fn: (path: string, handle: Awaited<ReturnType<typeof open>>) => Promise<void>) {
  const dir = await mkdtemp(join(tmpdir(), 'berth-batch-writer-'));
  const path = join(dir, 'data');
  const handle = await open(path, 'a');
  try {
    await fn(path, handle);
  } finally {
    await handle.close();
    await rm(dir, { recursive: true, force: true });
  }
}

describe('batched file writer', () => {
  it('writes every chunk in order, gathering those that arrive during a write', async () => {
    await withHandle(async (path, handle) => {
      const chunks = Array.from({ length: 3000 }, (_, i) => randomBytes(1 + ((i * 7919) % 9000)));
      chunks.push(randomBytes(6 * 1024 * 1024), Buffer.alloc(0), randomBytes(3));
      let reported = 0;
      async function* source() {
        for (const [i, chunk] of chunks.entries()) {
          if (i % 100 === 0) await new Promise((resolve) => setImmediate(resolve));
          yield chunk;
        }
      }
      await writeBatched(handle, source(), undefined, (n) => {
        reported += n;
      });
      const expected = Buffer.concat(chunks);
      assert.equal(reported, expected.length);
      assert.ok((await readFile(path)).equals(expected));
    });
  });

  it('rejects with the source error after the write in flight finished', async () => {
    await withHandle(async (path, handle) => {
      async function* source() {
        yield randomBytes(1024 * 1024);
        throw new Error('client went away');
      }
      await assert.rejects(
        writeBatched(handle, source(), undefined, () => {}),
        /client went away/,
      );
      // The first chunk was written completely before the rejection: nothing is still running.
      assert.equal((await readFile(path)).length, 1024 * 1024);
    });
  });

  it('rejects chunks that are not bytes, and stops on abort', async () => {
    await withHandle(async (_path, handle) => {
      await assert.rejects(
        writeBatched(handle, ['text' as unknown as Uint8Array], undefined, () => {}),
        TypeError,
      );
      const controller = new AbortController();
      async function* source() {
        yield Buffer.from('a');
        controller.abort();
        yield Buffer.from('b');
      }
      await assert.rejects(
        writeBatched(handle, source(), controller.signal, () => {}),
        { name: 'AbortError' },
      );
    });
  });
});
