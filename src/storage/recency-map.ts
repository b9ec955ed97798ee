/**
 * The map behind every least-recently-used cache (the filesystem driver's validated caches and
 * the registry's LRU maps): second-chance ("clock") eviction over a Map's insertion order.
 *
 * A hit only marks its entry as used. The obvious LRU on a Map moves the entry to the back on
 * every hit (delete + set), and each delete leaves a slot in the Map's hash table until V8
 * rebuilds it — in the old generation, for a long-lived Map. Caches hit on every request then
 * made a few MB of old-generation garbage per young collection, which only full collections
 * reclaim: under a steady load the server's RSS rose and fell by tens of MB. Here entries move
 * only when an eviction passes over them, so a Map changes only as often as entries are added.
 */

interface Slot<V> {
  value: V;
  /** Read since it was added or since an eviction last passed over it. */
  used: boolean;
}

/** Second chances given per eviction at most; see evictionCandidate. */
export const MAX_SECOND_CHANCES = 64;

export class RecencyMap<K, V> {
  readonly #map = new Map<K, Slot<V>>();

  get size(): number {
    return this.#map.size;
  }

  has(key: K): boolean {
    return this.#map.has(key);
  }

  /** The value, marked as used. */
  get(key: K): V | undefined {
    const slot = this.#map.get(key);
    if (slot === undefined) return undefined;
    slot.used = true;
    return slot.value;
  }

  /** The value, without marking it. */
  peek(key: K): V | undefined {
    return this.#map.get(key)?.value;
  }

  /** Adds or replaces an entry, as the newest and not yet used. */
  set(key: K, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, { value, used: false });
  }

  delete(key: K): boolean {
    return this.#map.delete(key);
  }

  /**
   * The entry to evict next: the oldest one not used since the last pass. Used entries passed
   * over get a second chance: unmarked and moved to the back. At most `MAX_SECOND_CHANCES` per
   * call, so one eviction never walks a whole large cache in which everything was read (the
   * filesystem caches can hold hundreds of thousands of links): then the oldest entry left goes,
   * read or not.
   */
  evictionCandidate(): [K, V] | undefined {
    // One iterator for the whole pass: a new one would step again over every slot the moves
    // below emptied at the front of the Map's table (V8 keeps them until it rebuilds the table).
    // It skips removed entries and reaches the ones moved to the back only after all others.
    const entries = this.#map.entries();
    for (let passed = Math.min(this.#map.size, MAX_SECOND_CHANCES); passed > 0; passed--) {
      const next = entries.next();
      if (next.done === true) return undefined;
      const [key, slot] = next.value;
      if (!slot.used) return [key, slot.value];
      slot.used = false;
      this.#map.delete(key);
      this.#map.set(key, slot);
    }
    const next = entries.next();
    return next.done === true ? undefined : [next.value[0], next.value[1].value];
  }

  /**
   * Evicts while `full()` says so and entries remain, telling `evicted` about each one. Callers
   * make room before they add: a new entry is unmarked, so a pass after adding could choose it.
   */
  evictWhile(full: () => boolean, evicted?: (key: K, value: V) => void): void {
    while (full()) {
      const victim = this.evictionCandidate();
      if (victim === undefined) return;
      this.#map.delete(victim[0]);
      evicted?.(victim[0], victim[1]);
    }
  }

  /** Keys from the oldest position to the newest. */
  keys(): IterableIterator<K> {
    return this.#map.keys();
  }
}
