/** Deterministic test content: the same seed gives the same bytes, so a failure is reproducible. */

/**
 * `size` pseudo-random bytes (xorshift32) from `seed`; different seeds give different content,
 * and any part is cheap to recompute for checking ranged reads.
 */
export function pseudoRandomBytes(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    out[i] = x & 0xff;
  }
  return out;
}
