/**
 * The lifecycle every driver's FileWriter shares (see {@link FileWriter}): a writer is open until
 * it is committed, closed or cancelled; `write` and `commit` need an open writer with no write or
 * commit running; `close` acts only on an open writer; `cancel` is a no-op once committed (so it
 * is safe in `finally`) or already cancelled. Drivers keep only what differs: where bytes go.
 *
 * A class with plain fields rather than closures: the filesystem writer is on the hot push path,
 * and begin/end cost no allocation and no await per call.
 */
import type { FileWriter } from '../driver.js';

export type WriterState = 'open' | 'committed' | 'closed' | 'cancelled';

/** The byte handling a buffering writer plugs into {@link WriterLifecycle.writeChunks}. */
export type ChunkSink = (chunk: Uint8Array) => Promise<void> | void;

export class WriterLifecycle {
  #state: WriterState = 'open';
  #busy = false;
  /** ` <path>` when errors name the file, else empty. */
  readonly #subject: string;

  /** @param path named in error messages when given. */
  constructor(path?: string) {
    this.#subject = path === undefined ? '' : ` ${path}`;
  }

  get state(): WriterState {
    return this.#state;
  }

  /** @throws Error unless the writer is open and no write or commit is running. */
  assertReady(what: 'write' | 'commit'): void {
    if (this.#state !== 'open') throw new Error(`cannot ${what}${this.#subject}: writer is ${this.#state}`);
    if (this.#busy) throw new Error(`cannot ${what}${this.#subject}: a write is in progress`);
  }

  /** {@link assertReady}, then marks a write or commit running until {@link end} (call it in `finally`). */
  begin(what: 'write' | 'commit'): void {
    this.assertReady(what);
    this.#busy = true;
  }

  end(): void {
    this.#busy = false;
  }

  /** Records a successful commit: from now on writes and commits are refused and cancel is a no-op. */
  markCommitted(): void {
    this.#state = 'committed';
  }

  /** Closes an open writer. @returns whether it was open, i.e. whether the caller has anything to release. */
  markClosed(): boolean {
    if (this.#state !== 'open') return false;
    this.#state = 'closed';
    return true;
  }

  /** Cancels a writer not yet committed or cancelled. @returns false when cancel has nothing to do. */
  markCancelled(): boolean {
    if (this.#state === 'committed' || this.#state === 'cancelled') return false;
    this.#state = 'cancelled';
    return true;
  }

  /**
   * `write` for writers that take chunks one by one: hands every non-empty chunk of `src` to
   * `sink` in order, awaiting it only when it returns a promise (a flush), and checks `signal`
   * before the first chunk and after each arrives.
   * @returns the number of bytes handed to `sink`.
   * @throws TypeError for a chunk that is not a Uint8Array; the signal's reason when it aborts.
   */
  async writeChunks(
    src: Parameters<FileWriter['write']>[0],
    signal: AbortSignal | undefined,
    sink: ChunkSink,
  ): Promise<number> {
    this.begin('write');
    let written = 0;
    try {
      signal?.throwIfAborted();
      for await (const chunk of src) {
        signal?.throwIfAborted();
        if (!(chunk instanceof Uint8Array)) throw new TypeError('writer accepts Uint8Array chunks only');
        if (chunk.length === 0) continue;
        const flushing = sink(chunk);
        written += chunk.length;
        if (flushing !== undefined) await flushing;
      }
      return written;
    } finally {
      this.end();
    }
  }
}
