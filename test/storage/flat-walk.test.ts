/**
 * The object-store drivers' walk over a flat listing, checked against the in-memory driver's walk on
 * random trees whose names mix '-', '.' and '/' — the characters that make listing order and
 * walk order differ — with every startAfter and a pruning descend.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FileInfo } from '../../src/storage/driver.js';
import { type ListedFile, mayBePrecededLater, walkFlatListing } from '../../src/storage/drivers/flat-walk.js';
import { createInMemoryDriver } from '../../src/storage/drivers/inmemory.js';
import { bytes, collect, walkPaths } from './contract/harness.js';

/** A deterministic generator, so a failure names a reproducible seed. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const NAMES = ['a', 'a-b', 'a.b', 'a-', 'b', 'a0', '-', '.x', 'ab'];

function randomTree(seed: number): string[] {
  const next = random(seed);
  const files = new Set<string>();
  const count = 1 + Math.floor(next() * 25);
  while (files.size < count) {
    const depth = 1 + Math.floor(next() * 4);
    const parts = Array.from({ length: depth }, () => NAMES[Math.floor(next() * NAMES.length)]!);
    files.add(`/r/${parts.join('/')}`);
  }
  // A file cannot also be a directory: drop files that others continue.
  return [...files].filter((file) => ![...files].some((other) => other.startsWith(`${file}/`)));
}

async function* listed(paths: readonly string[]): AsyncGenerator<ListedFile> {
  // The order a flat object listing returns: plain string order of the names.
  for (const path of [...paths].sort()) yield { path, size: Buffer.byteLength(path), modTime: new Date(0) };
}

function summary(infos: readonly FileInfo[]): string[] {
  return infos.map((info) => `${info.path}${info.isDir ? '/' : ` ${info.size}`}`);
}

describe('walk over a flat listing', () => {
  it('matches the in-memory walk on random trees, with startAfter and descend', async () => {
    for (let seed = 1; seed <= 150; seed++) {
      const files = randomTree(seed);
      const reference = createInMemoryDriver();
      for (const file of files) await reference.putContent(file, bytes(file));
      const expected = await collect(reference.walk('/r'));
      assert.deepEqual(summary(await collect(walkFlatListing(listed(files), '/r'))), summary(expected), `seed ${seed}`);

      const order = expected.map((info) => info.path);
      for (const startAfter of [...order.filter((_, i) => i % 3 === 0), '/r/a/zz', '/r/a-/0']) {
        assert.deepEqual(
          (await collect(walkFlatListing(listed(files), '/r', { startAfter }))).map((info) => info.path),
          await walkPaths(reference, '/r', { startAfter }),
          `seed ${seed} startAfter ${startAfter}`,
        );
      }
      const descend = (info: FileInfo): boolean => !info.path.endsWith('/a') && !info.path.endsWith('.b');
      assert.deepEqual(
        (await collect(walkFlatListing(listed(files), '/r', { descend }))).map((info) => info.path),
        await walkPaths(reference, '/r', { descend }),
        `seed ${seed} descend`,
      );
    }
  });

  it('holds back only what a later name can still precede', () => {
    const from = '/r/'.length;
    assert.equal(mayBePrecededLater('/r/a-b/x', '/r/a-b/x', from), true, "'/r/a/…' may still come");
    assert.equal(mayBePrecededLater('/r/a-b/x', '/r/a/y', from), true, "still inside '/r/a/'");
    assert.equal(mayBePrecededLater('/r/a-b/x', '/r/a0', from), false, "past '/r/a/'");
    assert.equal(mayBePrecededLater('/r/a/x', '/r/a/y', from), false, 'no - or . in the way');
    assert.equal(mayBePrecededLater('/r/b', '/r/b', from), false);
    // The walked directory's own name never holds anything back.
    assert.equal(mayBePrecededLater('/r-x/a', '/r-x/a', '/r-x/'.length), false);
  });

  it('streams: entries come out before the listing ends', async () => {
    let listedCount = 0;
    async function* many(): AsyncGenerator<ListedFile> {
      for (let i = 0; i < 1000; i++) {
        listedCount++;
        yield { path: `/r/${String(i).padStart(4, '0')}`, size: 1, modTime: new Date(0) };
      }
    }
    for await (const info of walkFlatListing(many(), '/r')) {
      assert.equal(info.path, '/r/0000');
      break;
    }
    assert.ok(listedCount < 10, `read ${listedCount} names before the first entry`);
  });
});
