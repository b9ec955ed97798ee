/**
 * The hook through which writers tell an online garbage collector which blobs they are about to
 * link or reference, so a collection running concurrently never deletes one of them. The
 * protocol itself lives in `src/gc/fence.ts`; without online collection there is no fence and
 * writers pay nothing.
 */
import type { Digest } from './names.js';
import type { CallOptions } from './types.js';

export interface FenceToken {
  /**
   * Whether the protection is still young enough that a collection starting now honours it.
   * When it is not, a writer that has yet to commit its reference protects again and re-checks
   * that the blobs exist before committing.
   */
  fresh(): boolean;
}

export interface LinkFence {
  /**
   * Records `digests` as recently linked and waits until no collector is deleting any of them.
   * Once it resolves, the caller checks the blobs' existence in storage itself (never in a
   * cache): a blob present then is not deleted while the token is fresh.
   */
  protect(digests: readonly Digest[], opts?: CallOptions): Promise<FenceToken>;
}
