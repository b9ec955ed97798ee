/** Contract: whole-object reads and writes, path validation, atomic replacement. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StorageDriver } from '../../../src/storage/driver.js';
import { ContentTooLargeError, InvalidPathError, PathNotFoundError } from '../../../src/storage/errors.js';
import { binarySample, bytes, collect, type WithDriver } from './harness.js';

/** Paths every method must reject before touching storage. */
export const INVALID_PATHS: readonly string[] = [
  '',
  'a',
  'a/b',
  '../x',
  './x',
  '/a//b',
  '//',
  '/a/./b',
  '/a/../b',
  '/..',
  '/.',
  '/a/b/',
  '/a/..',
  '/a b',
  '/a\\b',
  '/a\0b',
  '/a\nb',
  '/caf\u00e9',
  '/a:b',
  '/a%2Fb',
];

/** Calls each driver method on `path` (and `path` as both sides of a move). */
function everyMethod(driver: StorageDriver, path: string): Array<[string, () => Promise<unknown>]> {
  return [
    ['getContent', async () => driver.getContent(path)],
    ['putContent', async () => driver.putContent(path, bytes('x'))],
    ['reader', async () => driver.reader(path)],
    ['writer', async () => driver.writer(path)],
    ['writer(append)', async () => driver.writer(path, { append: true })],
    ['stat', async () => driver.stat(path)],
    ['list', async () => driver.list(path)],
    ['move from', async () => driver.move(path, '/ok/target')],
    ['move to', async () => driver.move('/ok/source', path)],
    ['delete', async () => driver.delete(path)],
    ['walk', async () => collect(driver.walk(path))],
  ];
}

export function contentSuite(withDriver: WithDriver): void {
  describe('getContent / putContent', () => {
    it('round-trips binary content and reports a name', () =>
      withDriver(async (d) => {
        assert.equal(typeof d.name, 'string');
        assert.ok(d.name.length > 0);
        const data = binarySample(4096);
        await d.putContent('/rt/file', data);
        assert.deepEqual(await d.getContent('/rt/file'), data);
      }));

    it('stores empty content', () =>
      withDriver(async (d) => {
        await d.putContent('/empty', new Uint8Array(0));
        assert.equal((await d.getContent('/empty')).length, 0);
        assert.equal((await d.stat('/empty')).size, 0);
      }));

    it('replaces content entirely, leaving no tail of a longer old value', () =>
      withDriver(async (d) => {
        await d.putContent('/r/f', bytes('a much longer original value'));
        await d.putContent('/r/f', bytes('short'));
        assert.equal((await d.getContent('/r/f')).toString(), 'short');
        assert.equal((await d.stat('/r/f')).size, 5);
      }));

    it('is isolated from later mutation of the caller buffers', () =>
      withDriver(async (d) => {
        const data = bytes('original');
        await d.putContent('/iso', data);
        data.fill(0x21);
        const read = await d.getContent('/iso');
        read.fill(0x22);
        assert.equal((await d.getContent('/iso')).toString(), 'original');
      }));

    it('accepts a plain Uint8Array and a Buffer view with an offset', () =>
      withDriver(async (d) => {
        await d.putContent('/u8', new Uint8Array([1, 2, 3]));
        assert.deepEqual([...(await d.getContent('/u8'))], [1, 2, 3]);
        const view = Buffer.from('xxhelloxx').subarray(2, 7);
        await d.putContent('/view', view);
        assert.equal((await d.getContent('/view')).toString(), 'hello');
      }));

    it('creates parent directories', () =>
      withDriver(async (d) => {
        await d.putContent('/p/q/r/file', bytes('x'));
        for (const dir of ['/p', '/p/q', '/p/q/r']) {
          const info = await d.stat(dir);
          assert.equal(info.isDir, true, dir);
        }
      }));

    it('enforces maxBytes', () =>
      withDriver(async (d) => {
        await d.putContent('/big', bytes('0123456789'));
        assert.equal((await d.getContent('/big', { maxBytes: 10 })).length, 10);
        await assert.rejects(d.getContent('/big', { maxBytes: 9 }), (error: unknown) => {
          assert.ok(error instanceof ContentTooLargeError);
          assert.equal(error.limit, 9);
          assert.equal(error.path, '/big');
          return true;
        });
      }));

    it('reads the same with `uncached`, whatever the size, and enforces maxBytes', () =>
      withDriver(async (d) => {
        for (const size of [0, 71, 4095, 4096, 4097, 20_000]) {
          const data = binarySample(size);
          await d.putContent(`/uc/${size}`, data);
          assert.deepEqual(await d.getContent(`/uc/${size}`, { uncached: true }), data, `${size} bytes`);
        }
        assert.equal((await d.getContent('/uc/20000', { uncached: true, maxBytes: 20_000 })).length, 20_000);
        await assert.rejects(d.getContent('/uc/20000', { uncached: true, maxBytes: 19_999 }), ContentTooLargeError);
        await assert.rejects(d.getContent('/uc', { uncached: true }), PathNotFoundError);
        await assert.rejects(d.getContent('/uc/absent', { uncached: true }), PathNotFoundError);
        await assert.rejects(d.getContent('/uc/71/below', { uncached: true }), PathNotFoundError);
        // A cached read after an uncached one still sees later replacements.
        await d.putContent('/uc/71', bytes('new'));
        assert.deepEqual(await d.getContent('/uc/71', { uncached: true }), bytes('new'));
        assert.deepEqual(await d.getContent('/uc/71'), bytes('new'));
      }));

    it('answers `recent` reads and stats as any other', () =>
      withDriver(async (d) => {
        await d.putContent('/recent/file', bytes('fresh'));
        const opts = { uncached: true, recent: true } as const;
        assert.deepEqual(await d.getContent('/recent/file', opts), bytes('fresh'));
        const info = await d.stat('/recent/file', { recent: true });
        assert.equal(info.size, 5);
        assert.equal(info.isDir, false);
        assert.equal((await d.stat('/recent', { recent: true })).isDir, true);
        await assert.rejects(d.stat('/recent/absent', { recent: true }), PathNotFoundError);
        await assert.rejects(d.stat('/recent/file/below', { recent: true }), PathNotFoundError);
        await assert.rejects(d.getContent('/recent/absent', opts), PathNotFoundError);
        await assert.rejects(d.getContent('/recent', opts), PathNotFoundError);
      }));

    it('rejects a directory as content', () =>
      withDriver(async (d) => {
        await d.putContent('/dir/file', bytes('x'));
        await assert.rejects(d.getContent('/dir'), PathNotFoundError);
        await assert.rejects(d.reader('/dir'), PathNotFoundError);
      }));

    it('honours an aborted signal without writing', () =>
      withDriver(async (d) => {
        await d.putContent('/ab', bytes('old'));
        const signal = AbortSignal.abort();
        await assert.rejects(d.putContent('/ab', bytes('new'), { signal }), { name: 'AbortError' });
        await assert.rejects(d.getContent('/ab', { signal }), { name: 'AbortError' });
        assert.equal((await d.getContent('/ab')).toString(), 'old');
      }));

    it('ends concurrent puts to one path with exactly one complete value', () =>
      withDriver(async (d) => {
        const size = 256 * 1024;
        const values = Array.from({ length: 16 }, (_, i) => Buffer.alloc(size, 0x41 + i));
        await Promise.all(values.map((value) => d.putContent('/race/obj', value)));
        const final = await d.getContent('/race/obj');
        assert.equal(final.length, size);
        assert.ok(
          values.some((value) => value.equals(final)),
          'final content is one of the written values',
        );
        assert.deepEqual(await d.list('/race'), ['/race/obj']);
      }));

    it('lets readers see the old or the new value, never a mix', () =>
      withDriver(async (d) => {
        const a = Buffer.alloc(512 * 1024, 0x61);
        const b = Buffer.alloc(256 * 1024, 0x62);
        await d.putContent('/atomic', a);
        let writing = true;
        const writer = (async () => {
          try {
            for (let i = 0; i < 20; i++) await d.putContent('/atomic', i % 2 === 0 ? b : a);
          } finally {
            writing = false;
          }
        })();
        let reads = 0;
        while (writing || reads === 0) {
          const seen = await d.getContent('/atomic');
          assert.ok(seen.equals(a) || seen.equals(b), `read ${reads} saw a torn value of ${seen.length} bytes`);
          reads++;
        }
        await writer;
      }));
  });

  describe('path validation', () => {
    for (const path of INVALID_PATHS) {
      it(`rejects ${JSON.stringify(path)} in every method`, () =>
        withDriver(async (d) => {
          await d.putContent('/ok/source', bytes('keep'));
          for (const [method, call] of everyMethod(d, path)) {
            await assert.rejects(call(), InvalidPathError, `${method}(${JSON.stringify(path)})`);
          }
          assert.equal((await d.getContent('/ok/source')).toString(), 'keep');
        }));
    }

    it('rejects the root for file operations but not for stat, list and walk', () =>
      withDriver(async (d) => {
        await d.putContent('/ok/source', bytes('keep'));
        const fileOps: Array<[string, () => Promise<unknown>]> = [
          ['getContent', async () => d.getContent('/')],
          ['putContent', async () => d.putContent('/', bytes('x'))],
          ['reader', async () => d.reader('/')],
          ['writer', async () => d.writer('/')],
          ['move from', async () => d.move('/', '/ok/target')],
          ['move to', async () => d.move('/ok/source', '/')],
          ['delete', async () => d.delete('/')],
        ];
        for (const [method, call] of fileOps) await assert.rejects(call(), InvalidPathError, method);
        assert.equal((await d.stat('/')).isDir, true);
        assert.deepEqual(await d.list('/'), ['/ok']);
        assert.equal((await collect(d.walk('/'))).length, 2);
        assert.equal((await d.getContent('/ok/source')).toString(), 'keep');
      }));

    it('accepts every allowed character', () =>
      withDriver(async (d) => {
        const path = '/AZaz09._-/...x/-_-/a.b..c';
        await d.putContent(path, bytes('ok'));
        assert.equal((await d.getContent(path)).toString(), 'ok');
      }));
  });

  describe('absent paths', () => {
    it('reject with PathNotFoundError carrying the path', () =>
      withDriver(async (d) => {
        await d.putContent('/present/file', bytes('x'));
        const absent = '/present/missing';
        const calls: Array<[string, () => Promise<unknown>]> = [
          ['getContent', async () => d.getContent(absent)],
          ['reader', async () => d.reader(absent)],
          ['stat', async () => d.stat(absent)],
          ['list', async () => d.list(absent)],
          ['move', async () => d.move(absent, '/present/elsewhere')],
          ['delete', async () => d.delete(absent)],
        ];
        for (const [method, call] of calls) {
          await assert.rejects(
            call(),
            (error: unknown) => error instanceof PathNotFoundError && error.path === absent,
            method,
          );
        }
        await assert.rejects(d.stat('/present/elsewhere'), PathNotFoundError);
      }));

    it('treat a path below a file as absent', () =>
      withDriver(async (d) => {
        await d.putContent('/f', bytes('x'));
        await assert.rejects(d.getContent('/f/below'), PathNotFoundError);
        await assert.rejects(d.stat('/f/below'), PathNotFoundError);
        await assert.rejects(d.list('/f/below'), PathNotFoundError);
        await assert.rejects(d.delete('/f/below'), PathNotFoundError);
      }));
  });
}
