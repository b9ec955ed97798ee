/**
 * A bounded map with least-recently-used eviction (second chance; see RecencyMap).
 * Used for caches whose entries can always be recomputed, so eviction is never an error.
 */
import { RecencyMap } from '../storage/recency-map.js';

export interface LruMap<K, V> {
  get(key: K): V | undefined;
  set(key: K, value: V): void;
  delete(key: K): void;
  readonly size: number;
}

export function createLruMap<K, V>(maxEntries: number): LruMap<K, V> {
  if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('maxEntries must be a positive integer');
  const map = new RecencyMap<K, V>();
  return {
    get: (key) => map.get(key),
    set(key, value) {
      map.delete(key);
      map.evictWhile(() => map.size >= maxEntries);
      map.set(key, value);
    },
    delete(key) {
      map.delete(key);
    },
    get size() {
      return map.size;
    },
  };
}
