/**
 * The azure driver's FileWriter: a block blob built from staged blocks. Staged blocks stay
 * invisible until `commitBlockList`, which is what makes content appear only on commit. An
 * append re-commits the blob's existing block list followed by the new blocks, so the bytes
 * already stored are never uploaded again however many chunks an upload arrives in.
 */
import { randomBytes } from 'node:crypto';
import type { BlobRequestConditions, BlockBlobClient } from '@azure/storage-blob';
import type { CallOptions, FileWriter } from '../driver.js';
import { abortOption, isAzureNotFound, isAzureStatus } from './azure-sdk.js';
import { WriterLifecycle } from './writer-state.js';

/** What a writer needs from its driver. */
export interface BlockWriterTarget {
  /** The driver path, for error messages. */
  path: string;
  blob: BlockBlobClient;
  /** Bytes per staged block (the last block of each commit may be smaller). */
  blockSize: number;
  /** Runs `op`, creating the container and running it once more when the container is missing. */
  withContainer<T>(op: () => Promise<T>): Promise<T>;
  /** A read-only SAS URL of the blob, for server-side copies of its committed content. */
  readURL(): Promise<string>;
}

/** Bytes of a block id when the blob has no blocks yet; Azure wants one id length per blob. */
const DEFAULT_ID_BYTES = 24;

interface AppendBase {
  ids: string[];
  size: number;
  /** Commit only over the blob this base was read from (or only create it when absent). */
  conditions: BlobRequestConditions;
  idBytes: number;
}

/**
 * The committed block list to continue from. A blob written in one request (`putContent`) has
 * content but no blocks: its content is then staged as a first block by a server-side copy.
 */
async function readAppendBase(target: BlockWriterTarget, signal: AbortSignal | undefined): Promise<AppendBase> {
  let list: Awaited<ReturnType<BlockBlobClient['getBlockList']>>;
  try {
    list = await target.blob.getBlockList('committed', { ...abortOption(signal) });
  } catch (error) {
    if (isAzureNotFound(error))
      return { ids: [], size: 0, conditions: { ifNoneMatch: '*' }, idBytes: DEFAULT_ID_BYTES };
    if (isAzureStatus(error, 409)) {
      throw new Error(`cannot append to ${target.path}: it is not a block blob`, { cause: error });
    }
    throw error;
  }
  const blocks = list.committedBlocks ?? [];
  const size = list.blobContentLength ?? 0;
  const conditions: BlobRequestConditions = list.etag === undefined ? {} : { ifMatch: list.etag };
  const first = blocks[0];
  const idBytes = first === undefined ? DEFAULT_ID_BYTES : Buffer.from(first.name, 'base64').length || DEFAULT_ID_BYTES;
  const blockBytes = blocks.reduce((sum, block) => sum + block.size, 0);
  if (blockBytes === size) return { ids: blocks.map((block) => block.name), size, conditions, idBytes };
  const id = newBlockId(idBytes);
  try {
    await target.blob.stageBlockFromURL(id, await target.readURL(), 0, size, abortOption(signal));
    return { ids: [id], size, conditions, idBytes };
  } catch (error) {
    // 501: an emulator without Put Block From URL (Azurite). Anything else is a real failure.
    if (!isAzureStatus(error, 501)) throw error;
  }
  return { ids: await restage(target, idBytes, signal), size, conditions, idBytes };
}

/**
 * Stages the blob's current content as blocks by reading it through this process: the fallback
 * where the service cannot copy a range into a block itself. It happens once per such blob; the
 * conditional commit afterwards fails if the blob changed in between.
 */
async function restage(target: BlockWriterTarget, idBytes: number, signal: AbortSignal | undefined): Promise<string[]> {
  const response = await target.blob.download(0, undefined, abortOption(signal));
  const ids: string[] = [];
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const stage = async (): Promise<void> => {
    const id = newBlockId(idBytes);
    const body = Buffer.concat(pending, pendingBytes);
    await target.blob.stageBlock(id, body, body.length, abortOption(signal));
    ids.push(id);
    pending = [];
    pendingBytes = 0;
  };
  for await (const chunk of response.readableStreamBody ?? []) {
    const buffer = chunk as Buffer;
    pending.push(buffer);
    pendingBytes += buffer.length;
    if (pendingBytes >= target.blockSize) await stage();
  }
  if (pendingBytes > 0) await stage();
  return ids;
}

function newBlockId(bytes: number): string {
  return randomBytes(bytes).toString('base64');
}

/**
 * Opens a writer on `target`. Without `append` the writer starts empty and replaces the blob on
 * commit; with it, the writer continues after the committed content.
 */
export async function openBlockWriter(
  target: BlockWriterTarget,
  append: boolean,
  signal?: AbortSignal,
): Promise<FileWriter> {
  const base: AppendBase = append
    ? await readAppendBase(target, signal)
    : { ids: [], size: 0, conditions: {}, idBytes: DEFAULT_ID_BYTES };
  const staged: string[] = [];
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let size = base.size;
  const lifecycle = new WriterLifecycle(target.path);

  async function flush(opts: CallOptions | undefined): Promise<void> {
    if (pendingBytes === 0) return;
    const body = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    const id = newBlockId(base.idBytes);
    await target.withContainer(() => target.blob.stageBlock(id, body, body.length, { ...abortOption(opts?.signal) }));
    staged.push(id);
    pending = [];
    pendingBytes = 0;
  }

  return {
    get size() {
      return size;
    },

    write(src, opts) {
      return lifecycle.writeChunks(src, opts?.signal, (chunk) => {
        // Copied: callers may reuse their buffers once the chunk is handed over.
        pending.push(Buffer.from(chunk));
        pendingBytes += chunk.length;
        size += chunk.length;
        return pendingBytes >= target.blockSize ? flush(opts) : undefined;
      });
    },

    async commit(opts) {
      lifecycle.begin('commit');
      try {
        opts?.signal?.throwIfAborted();
        await flush(opts);
        await target.withContainer(() =>
          target.blob.commitBlockList([...base.ids, ...staged], {
            ...abortOption(opts?.signal),
            conditions: base.conditions,
          }),
        );
        lifecycle.markCommitted();
      } catch (error) {
        if (isAzureStatus(error, 412) || isAzureStatus(error, 409)) {
          throw new Error(`${target.path} changed while being appended to`, { cause: error });
        }
        throw error;
      } finally {
        lifecycle.end();
      }
    },

    async close() {
      // Staged blocks that are never committed are dropped by the service (after a week at most).
      lifecycle.markClosed();
      pending = [];
    },

    async cancel() {
      if (!lifecycle.markCancelled()) return;
      pending = [];
      if (!append) return;
      try {
        await target.blob.delete();
      } catch (error) {
        if (!isAzureNotFound(error)) throw error;
      }
    },
  };
}
