/**
 * Staging buffers for the filesystem driver's O_DIRECT writes (see file-batch-writer.ts): the
 * chunks of a request body are copied into one of these as they arrive, and the full buffer goes
 * to the disk as one write.
 *
 * `O_DIRECT` writes need memory aligned to the device's block size, which Node cannot allocate.
 * The memory of a `WebAssembly.Memory` is page-aligned by construction, so one fixed-size memory
 * is cut into {@link STAGE_BYTES} buffers: the aligned ones. It never grows (growing would detach
 * the buffers in use). When all are taken (three or more large uploads at once), or WebAssembly is
 * not available (`--jitless`), a writer gets an ordinary buffer and writes it through the page cache.
 */

/** The part of the WebAssembly global used here: TypeScript's ES libraries do not declare it. */
declare const WebAssembly: {
  Memory: new (descriptor: { initial: number; maximum?: number }) => { readonly buffer: ArrayBuffer };
};

/** Bytes per staging buffer: one disk write. */
export const STAGE_BYTES = 4 * 1024 * 1024;
/** Aligned buffers in the process: at most this many times STAGE_BYTES of memory is touched. */
const ALIGNED_STAGES = 8;
/** Unaligned buffers kept for reuse when the aligned ones are all taken. */
const SPARE_STAGES = 4;
/** WebAssembly memory comes in pages of this size. */
const WASM_PAGE = 64 * 1024;

/** A staging buffer; `aligned` when its memory may be used for O_DIRECT. */
export interface Stage {
  readonly buf: Buffer;
  readonly aligned: boolean;
}

let alignedFree: Stage[] | undefined;
const spareFree: Stage[] = [];

function alignedPool(): Stage[] {
  if (alignedFree !== undefined) return alignedFree;
  alignedFree = [];
  try {
    const memory = new WebAssembly.Memory({
      initial: (ALIGNED_STAGES * STAGE_BYTES) / WASM_PAGE,
      maximum: (ALIGNED_STAGES * STAGE_BYTES) / WASM_PAGE,
    });
    for (let i = 0; i < ALIGNED_STAGES; i++) {
      alignedFree.push({ buf: Buffer.from(memory.buffer, i * STAGE_BYTES, STAGE_BYTES), aligned: true });
    }
  } catch {
    // No WebAssembly (e.g. node --jitless) or no address space for it: every write goes through the page cache.
  }
  return alignedFree;
}

/**
 * A staging buffer; give it back with {@link releaseStage}. With `aligned`, an aligned one when
 * one is free; without, never one (they are few, and only O_DIRECT needs them).
 */
export function acquireStage(aligned: boolean): Stage {
  return (
    (aligned ? alignedPool().pop() : undefined) ??
    spareFree.pop() ?? { buf: Buffer.allocUnsafeSlow(STAGE_BYTES), aligned: false }
  );
}

/** Returns a buffer from {@link acquireStage}; its memory is reused by the next writer. */
export function releaseStage(stage: Stage): void {
  if (stage.aligned) alignedPool().push(stage);
  else if (spareFree.length < SPARE_STAGES) spareFree.push(stage);
}
