/** The second-chance map behind the LRU caches: hits never reorder it, evictions prefer entries not read. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLruMap } from '../../src/registry/lru.js';
import { MAX_SECOND_CHANCES, RecencyMap } from '../../src/storage/recency-map.js';

function filled(keys: string[]): RecencyMap<string, number> {
  const map = new RecencyMap<string, number>();
  for (const [i, key] of keys.entries()) map.set(key, i);
  return map;
}

describe('recency map', () => {
  it('leaves its order alone on hits, however many', () => {
    const map = filled(['a', 'b', 'c', 'd']);
    for (let i = 0; i < 1000; i++) assert.equal(map.get(i % 2 === 0 ? 'a' : 'c'), i % 2 === 0 ? 0 : 2);
    assert.deepEqual([...map.keys()], ['a', 'b', 'c', 'd']);
    assert.equal(map.peek('b'), 1);
  });

  it('offers the oldest entry not read since the last pass, moving read ones to the back', () => {
    const map = filled(['a', 'b', 'c', 'd']);
    map.get('a');
    map.get('c');
    assert.deepEqual(map.evictionCandidate(), ['b', 1]);
    assert.deepEqual([...map.keys()], ['b', 'c', 'd', 'a']);
    map.delete('b');
    // `c` was read: it gets its second chance too, and `d` (never read) goes next.
    assert.deepEqual(map.evictionCandidate(), ['d', 3]);
    assert.deepEqual([...map.keys()], ['d', 'a', 'c']);
  });

  it('gives every entry one second chance, then offers the oldest', () => {
    const map = filled(['a', 'b', 'c']);
    for (const key of ['a', 'b', 'c']) map.get(key);
    assert.deepEqual(map.evictionCandidate(), ['a', 0]);
    // The pass unmarked them all: a read now marks `b` again, so `c` goes before it.
    map.delete('a');
    map.get('b');
    assert.deepEqual(map.evictionCandidate(), ['c', 2]);
    assert.equal(new RecencyMap<string, number>().evictionCandidate(), undefined);
  });

  it('gives at most MAX_SECOND_CHANCES second chances per eviction', () => {
    const keys = Array.from({ length: MAX_SECOND_CHANCES * 3 }, (_, i) => `k${i}`);
    const map = filled(keys);
    for (const key of keys) map.get(key);
    // The first MAX_SECOND_CHANCES move to the back unmarked; the next one goes although it was read.
    assert.deepEqual(map.evictionCandidate(), [`k${MAX_SECOND_CHANCES}`, MAX_SECOND_CHANCES]);
    const order = [...map.keys()];
    assert.deepEqual(order.slice(-MAX_SECOND_CHANCES), keys.slice(0, MAX_SECOND_CHANCES));
    assert.equal(order[0], `k${MAX_SECOND_CHANCES}`);
  });

  it('evictWhile removes candidates until the condition is met, reporting each', () => {
    const map = filled(['a', 'b', 'c', 'd']);
    map.get('a');
    const evicted: Array<[string, number]> = [];
    map.evictWhile(
      () => map.size > 2,
      (key, value) => evicted.push([key, value]),
    );
    assert.deepEqual(evicted, [
      ['b', 1],
      ['c', 2],
    ]);
    assert.deepEqual([...map.keys()], ['d', 'a']);
    map.evictWhile(() => true);
    assert.equal(map.size, 0);
  });

  it('peek does not count as a use; set makes an entry new again', () => {
    const map = filled(['a', 'b']);
    map.peek('a');
    assert.deepEqual(map.evictionCandidate(), ['a', 0]);
    map.get('a');
    map.set('a', 10);
    assert.deepEqual([...map.keys()], ['b', 'a']);
    assert.deepEqual(map.evictionCandidate(), ['b', 1]);
    // The replaced entry carries no mark from before: it gets no second chance.
    map.delete('b');
    map.set('c', 2);
    assert.deepEqual(map.evictionCandidate(), ['a', 10]);
    assert.deepEqual([...map.keys()], ['a', 'c']);
  });
});

describe('lru map on it', () => {
  it('keeps the entries that are read and never evicts the one being added', () => {
    const lru = createLruMap<string, number>(3);
    for (const [i, key] of ['a', 'b', 'c'].entries()) lru.set(key, i);
    lru.get('a');
    lru.get('b');
    lru.get('c');
    lru.set('d', 3);
    assert.equal(lru.get('d'), 3);
    assert.equal(lru.size, 3);
    // Each of a, b, c was read, so one of them made room: the oldest, after all had their second chance.
    assert.equal(lru.get('a'), undefined);
    assert.equal(lru.get('b'), 1);
    lru.set('e', 4);
    // `b` and `d` were read since; `c` was not.
    assert.equal(lru.get('c'), undefined);
    assert.deepEqual(
      ['b', 'd', 'e'].map((key) => lru.get(key)),
      [1, 3, 4],
    );
  });
});
