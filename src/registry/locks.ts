/**
 * A per-key async mutex, in-process only. Storage writes are atomic on their own; this only
 * serialises work that keeps in-memory state between steps (an upload session's running hash),
 * so two requests for the same key on one replica cannot interleave. Keys are never global.
 */
export interface KeyedMutex {
  /** Runs `fn` once every earlier holder of `key` has finished; releases even when `fn` throws. */
  run<T>(key: string, fn: () => Promise<T>): Promise<T>;
}

export function createKeyedMutex(): KeyedMutex {
  const tails = new Map<string, Promise<void>>();
  return {
    async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
      const previous = tails.get(key) ?? Promise.resolve();
      let release!: () => void;
      const mine = new Promise<void>((resolve) => {
        release = resolve;
      });
      const tail = previous.then(() => mine);
      tails.set(key, tail);
      await previous;
      try {
        return await fn();
      } finally {
        release();
        // Only the last waiter removes the entry, so the map holds keys that are in use.
        if (tails.get(key) === tail) tails.delete(key);
      }
    },
  };
}
