/** Contract: stat, list, move, delete and walk over the directory tree. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StorageDriver } from '../../../src/storage/driver.js';
import { PathNotFoundError } from '../../../src/storage/errors.js';
import { bytes, collect, type WithDriver, walkPaths } from './harness.js';

/** A tree whose walk order differs from plain string order ('-' sorts before '/'). */
const WALK_FILES = ['/w/a/1', '/w/a/b/2', '/w/a-x', '/w/b', '/w/c/d/e'];
const WALK_ORDER = ['/w/a', '/w/a/1', '/w/a/b', '/w/a/b/2', '/w/a-x', '/w/b', '/w/c', '/w/c/d', '/w/c/d/e'];

async function putAll(d: StorageDriver, paths: readonly string[]): Promise<void> {
  for (const path of paths) await d.putContent(path, bytes(path));
}

export function treeSuite(withDriver: WithDriver): void {
  describe('stat', () => {
    it('describes files', () =>
      withDriver(async (d) => {
        const before = Date.now();
        await d.putContent('/st/file', bytes('12345'));
        const info = await d.stat('/st/file');
        assert.equal(info.path, '/st/file');
        assert.equal(info.size, 5);
        assert.equal(info.isDir, false);
        assert.ok(info.modTime instanceof Date);
        // Coarse bounds: filesystems round timestamps and clocks drift a little.
        assert.ok(Math.abs(info.modTime.getTime() - before) < 60_000, `modTime ${info.modTime.toISOString()}`);
      }));

    it('describes directories and the root', () =>
      withDriver(async (d) => {
        await d.putContent('/st/dir/file', bytes('12345'));
        const info = await d.stat('/st/dir');
        assert.deepEqual([info.path, info.size, info.isDir], ['/st/dir', 0, true]);
        assert.ok(info.modTime instanceof Date);
        const root = await d.stat('/');
        assert.deepEqual([root.path, root.isDir], ['/', true]);
      }));
  });

  describe('list', () => {
    it('returns the direct children as full paths in lexical order', () =>
      withDriver(async (d) => {
        await putAll(d, ['/l/c', '/l/a/x', '/l/b', '/l/a-b', '/l/a/y/z', '/l/B']);
        assert.deepEqual(await d.list('/l'), ['/l/B', '/l/a', '/l/a-b', '/l/b', '/l/c']);
        assert.deepEqual(await d.list('/l/a'), ['/l/a/x', '/l/a/y']);
      }));

    it('lists the same with `uncached`', () =>
      withDriver(async (d) => {
        await putAll(d, ['/u/c', '/u/a/x', '/u/b', '/u/file']);
        assert.deepEqual(await d.list('/u', { uncached: true }), ['/u/a', '/u/b', '/u/c', '/u/file']);
        await d.delete('/u/b');
        assert.deepEqual(await d.list('/u', { uncached: true }), ['/u/a', '/u/c', '/u/file']);
        assert.deepEqual(await d.list('/u'), ['/u/a', '/u/c', '/u/file']);
        await assert.rejects(d.list('/u/file', { uncached: true }), PathNotFoundError);
        await assert.rejects(d.list('/u/absent', { uncached: true }), PathNotFoundError);
      }));

    it('lists the root', () =>
      withDriver(async (d) => {
        assert.deepEqual(await d.list('/'), []);
        await putAll(d, ['/z', '/m/n']);
        assert.deepEqual(await d.list('/'), ['/m', '/z']);
      }));

    it('rejects files and absent directories with PathNotFoundError', () =>
      withDriver(async (d) => {
        await putAll(d, ['/l/file']);
        await assert.rejects(d.list('/l/file'), PathNotFoundError);
        await assert.rejects(d.list('/l/absent'), PathNotFoundError);
        await assert.rejects(d.list('/absent'), PathNotFoundError);
      }));
  });

  describe('move', () => {
    it('moves a file, creating the destination parents', () =>
      withDriver(async (d) => {
        await d.putContent('/mv/src/file', bytes('payload'));
        await d.move('/mv/src/file', '/mv/dst/deep/er/file');
        assert.equal((await d.getContent('/mv/dst/deep/er/file')).toString(), 'payload');
        await assert.rejects(d.getContent('/mv/src/file'), PathNotFoundError);
      }));

    it('replaces an existing destination', () =>
      withDriver(async (d) => {
        await d.putContent('/mv/a', bytes('new'));
        await d.putContent('/mv/b', bytes('old and longer'));
        await d.move('/mv/a', '/mv/b');
        assert.equal((await d.getContent('/mv/b')).toString(), 'new');
        assert.deepEqual(await d.list('/mv'), ['/mv/b']);
      }));

    it('moves within the same directory', () =>
      withDriver(async (d) => {
        await d.putContent('/mv/only', bytes('x'));
        await d.move('/mv/only', '/mv/renamed');
        assert.deepEqual(await d.list('/mv'), ['/mv/renamed']);
      }));

    it('rejects an absent source and leaves the destination alone', () =>
      withDriver(async (d) => {
        await d.putContent('/mv/dst', bytes('untouched'));
        await assert.rejects(
          d.move('/mv/missing', '/mv/dst'),
          (error: unknown) => error instanceof PathNotFoundError && error.path === '/mv/missing',
        );
        assert.equal((await d.getContent('/mv/dst')).toString(), 'untouched');
        await assert.rejects(d.move('/nowhere/missing', '/elsewhere/x'), PathNotFoundError);
        await assert.rejects(d.stat('/elsewhere/x'), PathNotFoundError);
      }));
  });

  describe('delete', () => {
    it('deletes a file and nothing else', () =>
      withDriver(async (d) => {
        await putAll(d, ['/del/a', '/del/b']);
        await d.delete('/del/a');
        await assert.rejects(d.getContent('/del/a'), PathNotFoundError);
        assert.deepEqual(await d.list('/del'), ['/del/b']);
      }));

    it('deletes a whole tree', () =>
      withDriver(async (d) => {
        await putAll(d, ['/t/a/1', '/t/a/b/2', '/t/a/b/c/3', '/t/a-sibling', '/t/c']);
        await d.delete('/t/a');
        for (const path of ['/t/a/1', '/t/a/b/2', '/t/a/b/c/3']) {
          await assert.rejects(d.getContent(path), PathNotFoundError, path);
        }
        await assert.rejects(d.stat('/t/a'), PathNotFoundError);
        assert.deepEqual(await d.list('/t'), ['/t/a-sibling', '/t/c']);
        assert.deepEqual(await walkPaths(d, '/t'), ['/t/a-sibling', '/t/c']);
      }));

    it('rejects an absent path with PathNotFoundError', () =>
      withDriver(async (d) => {
        await assert.rejects(d.delete('/del/absent'), PathNotFoundError);
        await d.putContent('/del/x', bytes('x'));
        await d.delete('/del/x');
        await assert.rejects(d.delete('/del/x'), PathNotFoundError);
      }));
  });

  describe('walk', () => {
    it('visits everything depth-first with children in lexical order', () =>
      withDriver(async (d) => {
        await putAll(d, WALK_FILES);
        const infos = await collect(d.walk('/w'));
        assert.deepEqual(
          infos.map((info) => info.path),
          WALK_ORDER,
        );
        for (const info of infos) {
          const isFile = WALK_FILES.includes(info.path);
          assert.equal(info.isDir, !isFile, info.path);
          assert.equal(info.size, isFile ? Buffer.byteLength(info.path) : 0, info.path);
          assert.ok(info.modTime instanceof Date);
        }
      }));

    it('walks from the root', () =>
      withDriver(async (d) => {
        await putAll(d, ['/w/x', '/top']);
        assert.deepEqual(await walkPaths(d, '/'), ['/top', '/w', '/w/x']);
      }));

    it('skips entries up to and including startAfter', () =>
      withDriver(async (d) => {
        await putAll(d, WALK_FILES);
        const after = (p: string): string[] => WALK_ORDER.slice(WALK_ORDER.indexOf(p) + 1);
        for (const start of WALK_ORDER) {
          assert.deepEqual(await walkPaths(d, '/w', { startAfter: start }), after(start), `startAfter ${start}`);
        }
        // startAfter need not exist: the walk resumes at the next entry in walk order.
        assert.deepEqual(await walkPaths(d, '/w', { startAfter: '/w/a/c' }), after('/w/a/b/2'));
        assert.deepEqual(await walkPaths(d, '/w', { startAfter: '/w/a0' }), after('/w/a-x'));
        assert.deepEqual(await walkPaths(d, '/w', { startAfter: '/w/a/0' }), after('/w/a'));
        assert.deepEqual(await walkPaths(d, '/w', { startAfter: '/v' }), WALK_ORDER);
        assert.deepEqual(await walkPaths(d, '/w', { startAfter: '/x' }), []);
      }));

    it('does not descend where descend returns false', () =>
      withDriver(async (d) => {
        await putAll(d, WALK_FILES);
        const asked: string[] = [];
        const paths = await walkPaths(d, '/w', {
          descend: (info) => {
            asked.push(info.path);
            return info.path !== '/w/a' && info.path !== '/w/c/d';
          },
        });
        assert.deepEqual(paths, ['/w/a', '/w/a-x', '/w/b', '/w/c', '/w/c/d']);
        assert.deepEqual(asked, ['/w/a', '/w/c', '/w/c/d']);
      }));

    it('yields nothing for an absent path or a file', () =>
      withDriver(async (d) => {
        assert.deepEqual(await walkPaths(d, '/absent'), []);
        assert.deepEqual(await walkPaths(d, '/'), []);
        await putAll(d, ['/w/file']);
        assert.deepEqual(await walkPaths(d, '/w/file'), []);
        assert.deepEqual(await walkPaths(d, '/w/absent'), []);
      }));

    it('can be stopped early by the consumer', () =>
      withDriver(async (d) => {
        await putAll(d, WALK_FILES);
        const seen: string[] = [];
        for await (const info of d.walk('/w')) {
          seen.push(info.path);
          if (seen.length === 3) break;
        }
        assert.deepEqual(seen, WALK_ORDER.slice(0, 3));
      }));

    it('honours an aborted signal', () =>
      withDriver(async (d) => {
        await putAll(d, WALK_FILES);
        await assert.rejects(collect(d.walk('/w', { signal: AbortSignal.abort() })), { name: 'AbortError' });
        const controller = new AbortController();
        await assert.rejects(
          (async () => {
            for await (const _ of d.walk('/w', { signal: controller.signal })) controller.abort();
          })(),
          { name: 'AbortError' },
        );
      }));
  });
}
