/** Contract: ranged readers, writers (visibility, commit, cancel, close, append), big streams. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import type { StorageDriver } from '../../../src/storage/driver.js';
import { InvalidOffsetError, PathNotFoundError } from '../../../src/storage/errors.js';
import { binarySample, bytes, isAbortError, patternChunk, readAll, sha256, type WithDriver } from './harness.js';

async function* chunksOf(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield bytes(part);
}

/** Whether `path` is invisible: absent, and not among its parent's children if the parent exists. */
async function assertInvisible(d: StorageDriver, path: string, parent: string): Promise<void> {
  await assert.rejects(d.getContent(path), PathNotFoundError);
  await assert.rejects(d.stat(path), PathNotFoundError);
  try {
    assert.ok(!(await d.list(parent)).includes(path), `${path} listed before commit`);
  } catch (error) {
    if (!(error instanceof PathNotFoundError)) throw error;
  }
}

export function readerSuite(withDriver: WithDriver): void {
  describe('reader', () => {
    const data = binarySample(1000);
    const cases: Array<[string, { offset?: number; length?: number }, Buffer]> = [
      ['the whole object by default', {}, data],
      ['from an offset to the end', { offset: 3 }, data.subarray(3)],
      ['a range', { offset: 100, length: 250 }, data.subarray(100, 350)],
      ['a range running past the end up to the end', { offset: 900, length: 500 }, data.subarray(900)],
      ['nothing for length 0', { offset: 10, length: 0 }, Buffer.alloc(0)],
      ['nothing at offset == size', { offset: 1000 }, Buffer.alloc(0)],
      ['the last byte', { offset: 999, length: 1 }, data.subarray(999)],
    ];
    for (const [title, opts, expected] of cases) {
      it(`reads ${title}`, () =>
        withDriver(async (d) => {
          await d.putContent('/rd/obj', data);
          assert.deepEqual(await readAll(await d.reader('/rd/obj', opts)), expected);
        }));
    }

    it('rejects an offset beyond the end with InvalidOffsetError', () =>
      withDriver(async (d) => {
        await d.putContent('/rd/obj', data);
        await assert.rejects(d.reader('/rd/obj', { offset: 1001 }), (error: unknown) => {
          assert.ok(error instanceof InvalidOffsetError);
          assert.equal(error.offset, 1001);
          assert.equal(error.path, '/rd/obj');
          return true;
        });
      }));

    it('reads an empty object', () =>
      withDriver(async (d) => {
        await d.putContent('/rd/empty', new Uint8Array(0));
        assert.equal((await readAll(await d.reader('/rd/empty'))).length, 0);
      }));

    it('rejects an already aborted signal', () =>
      withDriver(async (d) => {
        await d.putContent('/rd/obj', data);
        await assert.rejects(d.reader('/rd/obj', { signal: AbortSignal.abort() }), { name: 'AbortError' });
      }));

    it('stops a stream in flight when its signal aborts', () =>
      withDriver(async (d) => {
        const total = 16 * 1024 * 1024;
        await d.putContent('/rd/large', Buffer.alloc(total, 0x5a));
        const controller = new AbortController();
        const stream = await d.reader('/rd/large', { signal: controller.signal });
        let received = 0;
        await assert.rejects(
          (async () => {
            for await (const chunk of stream) {
              received += (chunk as Buffer).length;
              controller.abort();
            }
          })(),
          isAbortError,
        );
        assert.ok(received > 0 && received < total, `received ${received} of ${total} bytes`);
        assert.equal(stream.destroyed, true);
      }));
  });
}

export function writerSuite(withDriver: WithDriver): void {
  describe('writer', () => {
    it('makes content visible only on commit', () =>
      withDriver(async (d) => {
        const w = await d.writer('/wr/new');
        assert.equal(await w.write(chunksOf('hello ', 'world')), 11);
        assert.equal(w.size, 11);
        await assertInvisible(d, '/wr/new', '/wr');
        await w.commit();
        assert.equal((await d.getContent('/wr/new')).toString(), 'hello world');
        assert.deepEqual(await d.list('/wr'), ['/wr/new']);
      }));

    it('keeps the old content of a replaced object until commit', () =>
      withDriver(async (d) => {
        await d.putContent('/wr/obj', bytes('old content'));
        const w = await d.writer('/wr/obj');
        assert.equal(w.size, 0);
        await w.write(chunksOf('new'));
        assert.equal((await d.getContent('/wr/obj')).toString(), 'old content');
        await w.commit();
        assert.equal((await d.getContent('/wr/obj')).toString(), 'new');
      }));

    it('counts bytes per write call and in total', () =>
      withDriver(async (d) => {
        const w = await d.writer('/wr/multi');
        assert.equal(await w.write([bytes('ab'), bytes(''), bytes('cde')]), 5);
        assert.equal(await w.write(Readable.from([bytes('fg')])), 2);
        assert.equal(await w.write([]), 0);
        assert.equal(w.size, 7);
        await w.commit();
        assert.equal((await d.getContent('/wr/multi')).toString(), 'abcdefg');
        assert.equal((await d.stat('/wr/multi')).size, 7);
      }));

    it('discards new content on cancel, leaving an existing object alone', () =>
      withDriver(async (d) => {
        const fresh = await d.writer('/wr/fresh');
        await fresh.write(chunksOf('data'));
        await fresh.cancel();
        await assertInvisible(d, '/wr/fresh', '/wr');

        await d.putContent('/wr/kept', bytes('kept'));
        const replacing = await d.writer('/wr/kept');
        await replacing.write(chunksOf('replacement'));
        await replacing.cancel();
        assert.equal((await d.getContent('/wr/kept')).toString(), 'kept');
      }));

    it('discards uncommitted content on close', () =>
      withDriver(async (d) => {
        const w = await d.writer('/wr/closed');
        await w.write(chunksOf('data'));
        await w.close();
        await assertInvisible(d, '/wr/closed', '/wr');
        await w.close();
      }));

    it('treats cancel and close after commit as no-ops', () =>
      withDriver(async (d) => {
        const w = await d.writer('/wr/done');
        await w.write(chunksOf('done'));
        await w.commit();
        await w.cancel();
        await w.close();
        await w.cancel();
        assert.equal((await d.getContent('/wr/done')).toString(), 'done');
      }));

    it('refuses writes and a second commit once finished', () =>
      withDriver(async (d) => {
        const w = await d.writer('/wr/finished');
        await w.write(chunksOf('x'));
        await w.commit();
        await assert.rejects(w.write(chunksOf('y')));
        await assert.rejects(w.commit());
        const cancelled = await d.writer('/wr/cancelled');
        await cancelled.cancel();
        await assert.rejects(cancelled.write(chunksOf('y')));
        await assert.rejects(cancelled.commit());
        assert.equal((await d.getContent('/wr/finished')).toString(), 'x');
      }));

    it('commits an empty object', () =>
      withDriver(async (d) => {
        const w = await d.writer('/wr/empty');
        await w.commit();
        assert.equal((await d.getContent('/wr/empty')).length, 0);
      }));

    it('stops writing when the signal aborts, and cancel cleans up', () =>
      withDriver(async (d) => {
        const controller = new AbortController();
        async function* source(): AsyncGenerator<Uint8Array> {
          yield bytes('first');
          controller.abort();
          yield bytes('second');
          yield bytes('third');
        }
        const w = await d.writer('/wr/aborted');
        await assert.rejects(w.write(source(), { signal: controller.signal }), isAbortError);
        assert.ok(w.size < 'firstsecondthird'.length);
        await w.cancel();
        await assertInvisible(d, '/wr/aborted', '/wr');
        await assert.rejects(d.writer('/wr/other', { signal: AbortSignal.abort() }), isAbortError);
      }));

    it('propagates an error of the source', () =>
      withDriver(async (d) => {
        async function* failing(): AsyncGenerator<Uint8Array> {
          yield bytes('part');
          throw new Error('client went away');
        }
        const w = await d.writer('/wr/failing');
        await assert.rejects(w.write(failing()), /client went away/);
        await w.cancel();
        await assertInvisible(d, '/wr/failing', '/wr');
      }));
  });

  describe('writer with append', () => {
    it('continues committed content across writers', () =>
      withDriver(async (d) => {
        await d.putContent('/ap/obj', bytes('hello'));
        const first = await d.writer('/ap/obj', { append: true });
        assert.equal(first.size, 5);
        assert.equal(await first.write(chunksOf(', ')), 2);
        assert.equal(first.size, 7);
        await first.commit();
        const second = await d.writer('/ap/obj', { append: true });
        assert.equal(second.size, 7);
        await second.write(chunksOf('world'));
        await second.commit();
        assert.equal((await d.getContent('/ap/obj')).toString(), 'hello, world');
        assert.equal((await d.stat('/ap/obj')).size, 12);
      }));

    it('creates an absent file', () =>
      withDriver(async (d) => {
        const w = await d.writer('/ap/new/obj', { append: true });
        assert.equal(w.size, 0);
        await w.write(chunksOf('abc'));
        await w.commit();
        assert.equal((await d.getContent('/ap/new/obj')).toString(), 'abc');
      }));

    it('discards the whole file on cancel', () =>
      withDriver(async (d) => {
        await d.putContent('/ap/obj', bytes('committed'));
        const w = await d.writer('/ap/obj', { append: true });
        await w.write(chunksOf('more'));
        await w.cancel();
        await assert.rejects(d.getContent('/ap/obj'), PathNotFoundError);
      }));

    it('keeps only the committed content on close without commit', () =>
      withDriver(async (d) => {
        await d.putContent('/ap/obj', bytes('committed'));
        const w = await d.writer('/ap/obj', { append: true });
        await w.write(chunksOf(' and uncommitted'));
        await w.close();
        assert.equal((await d.getContent('/ap/obj')).toString(), 'committed');
        const fresh = await d.writer('/ap/fresh', { append: true });
        await fresh.write(chunksOf('uncommitted'));
        await fresh.close();
        await assert.rejects(d.getContent('/ap/fresh'), PathNotFoundError);
      }));

    it('serves ranged reads over appended content', () =>
      withDriver(async (d) => {
        const w = await d.writer('/ap/ranged', { append: true });
        await w.write(chunksOf('0123'));
        await w.commit();
        const w2 = await d.writer('/ap/ranged', { append: true });
        await w2.write(chunksOf('4567'));
        await w2.commit();
        assert.equal((await readAll(await d.reader('/ap/ranged', { offset: 2, length: 4 }))).toString(), '2345');
      }));
  });

  describe('large streams', () => {
    const chunkSize = 64 * 1024;
    const chunkCount = 512;
    const total = chunkSize * chunkCount;

    it('writes and reads 32 MiB streamed in chunks intact', { timeout: 120_000 }, () =>
      withDriver(async (d) => {
        const hash = createHash('sha256');
        async function* generate(): AsyncGenerator<Uint8Array> {
          for (let i = 0; i < chunkCount; i++) {
            const chunk = patternChunk(i, chunkSize);
            hash.update(chunk);
            yield chunk;
          }
        }
        const w = await d.writer('/big/blob');
        assert.equal(await w.write(generate()), total);
        await w.commit();
        const expected = hash.digest('hex');
        assert.equal((await d.stat('/big/blob')).size, total);

        const readHash = createHash('sha256');
        for await (const chunk of await d.reader('/big/blob')) readHash.update(chunk as Buffer);
        assert.equal(readHash.digest('hex'), expected);

        const offset = 5 * chunkSize + 123;
        const length = 3 * chunkSize;
        const window = Buffer.concat([5, 6, 7, 8].map((i) => patternChunk(i, chunkSize))).subarray(123, 123 + length);
        const range = await readAll(await d.reader('/big/blob', { offset, length }));
        assert.equal(sha256(range), sha256(window));
      }),
    );

    it('copies an object by piping a reader into a writer', { timeout: 120_000 }, () =>
      withDriver(async (d) => {
        const data = Buffer.concat(Array.from({ length: 64 }, (_, i) => patternChunk(i, chunkSize)));
        await d.putContent('/big/source', data);
        const w = await d.writer('/big/copy');
        assert.equal(await w.write(await d.reader('/big/source')), data.length);
        await w.commit();
        assert.equal(sha256(await d.getContent('/big/copy')), sha256(data));
      }),
    );
  });
}
