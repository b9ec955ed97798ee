/**
 * The s3 driver's FileWriter. New bytes are buffered up to `chunksize` and sent as the parts of a
 * multipart upload, so a writer holds at most about one chunk in memory; `commit` completes the
 * upload (or, for a small object, sends it with one PutObject), which is what makes the content
 * visible, whole, at once.
 *
 * Appending. Berth's writer contract makes every committed chunk visible (the registry commits
 * each PATCH so any replica can stat and continue the session), so there is never an unfinished
 * multipart upload to resume across writers: an append starts a new multipart upload whose first
 * parts are UploadPartCopy ranges of the committed object — a server-side copy, the registry
 * re-sends nothing. Only an object under S3's 5 MiB minimum part size cannot be a leading part;
 * it is read back into the buffer instead, which is what distribution's s3 driver does with a
 * short last part. So an upload's earlier bytes are never uploaded by the registry again, at the
 * next chunk or at the final commit (whose move is a server-side copy too).
 */
import {
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { CallOptions, FileWriter } from '../driver.js';
import { MIN_PART_SIZE } from './s3-config.js';
import {
  abortUpload,
  checksumParams,
  completedPart,
  copyParts,
  MAX_PARTS,
  objectParams,
  type S3Target,
} from './s3-copy.js';
import { isNoSuchKey, isPreconditionFailed, sendOptions } from './s3-sdk.js';
import { WriterLifecycle } from './writer-state.js';

export interface S3WriterTarget extends S3Target {
  /** The driver path, for error messages. */
  path: string;
  /** The object key. */
  key: string;
}

interface Base {
  size: number;
  /** The ETag the size was read with; undefined when the object did not exist. */
  etag: string | undefined;
}

async function readBase(target: S3WriterTarget, signal: AbortSignal | undefined): Promise<Base> {
  try {
    const head = await target.client.send(
      new HeadObjectCommand({ Bucket: target.bucket, Key: target.key }),
      sendOptions(signal),
    );
    return { size: head.ContentLength ?? 0, etag: head.ETag };
  } catch (error) {
    if (isNoSuchKey(error)) return { size: 0, etag: undefined };
    throw error;
  }
}

function changedError(target: S3WriterTarget, cause: unknown): Error {
  return new Error(`${target.path} changed while being appended to`, { cause });
}

/**
 * Opens a writer on `target`. Without `append` the writer starts empty and replaces the object on
 * commit; with it, the writer continues after the committed content.
 */
export async function openS3Writer(target: S3WriterTarget, append: boolean, signal?: AbortSignal): Promise<FileWriter> {
  const { client, bucket, key, options } = target;
  const base: Base = append ? await readBase(target, signal) : { size: 0, etag: undefined };
  // A base under the minimum part size travels in the buffer; a larger one is copied server-side.
  let baseLoaded = base.size === 0 || base.size >= MIN_PART_SIZE;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let written = 0;
  let upload: { id: string; parts: CompletedPart[] } | undefined;
  const lifecycle = new WriterLifecycle(target.path);

  function takePending(): Buffer {
    const body = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    return body;
  }

  /** Reads a small committed object into the front of the buffer, if it is still the one sized at open. */
  async function loadBase(callSignal: AbortSignal | undefined): Promise<void> {
    let body: Buffer;
    try {
      const answer = await client.send(
        new GetObjectCommand({ Bucket: bucket, Key: key, IfMatch: base.etag }),
        sendOptions(callSignal),
      );
      body = Buffer.from((await answer.Body?.transformToByteArray()) ?? new Uint8Array(0));
    } catch (error) {
      if (isPreconditionFailed(error) || isNoSuchKey(error)) throw changedError(target, error);
      throw error;
    }
    if (body.length !== base.size) throw changedError(target, undefined);
    pending.unshift(body);
    pendingBytes += body.length;
    baseLoaded = true;
  }

  /** Starts the multipart upload, its first parts copied from a large committed object. */
  async function startUpload(callSignal: AbortSignal | undefined): Promise<{ id: string; parts: CompletedPart[] }> {
    if (upload !== undefined) return upload;
    const created = await client.send(
      new CreateMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        ...objectParams(options),
        ...checksumParams(options),
      }),
      sendOptions(callSignal),
    );
    if (created.UploadId === undefined) throw new Error(`no upload id for ${target.path}`);
    const started = { id: created.UploadId, parts: [] as CompletedPart[] };
    upload = started;
    if (append && base.size >= MIN_PART_SIZE) {
      try {
        started.parts = await copyParts(
          target,
          {
            uploadId: started.id,
            key,
            sourceKey: key,
            size: base.size,
            ifMatch: base.etag,
            firstPart: 1,
            follow: true,
          },
          callSignal,
        );
      } catch (error) {
        if (isPreconditionFailed(error) || isNoSuchKey(error)) throw changedError(target, error);
        throw error;
      }
    }
    return started;
  }

  async function uploadPart(callSignal: AbortSignal | undefined): Promise<void> {
    const current = await startUpload(callSignal);
    const partNumber = current.parts.length + 1;
    if (partNumber > MAX_PARTS) {
      throw new Error(`${target.path} needs more than ${MAX_PARTS} parts: raise storage.s3.chunksize`);
    }
    const body = takePending();
    const answer = await client.send(
      new UploadPartCommand({
        Bucket: bucket,
        Key: key,
        UploadId: current.id,
        PartNumber: partNumber,
        Body: body,
        ContentLength: body.length,
        ...checksumParams(options),
      }),
      sendOptions(callSignal),
    );
    current.parts.push(completedPart(partNumber, answer));
  }

  async function putWhole(callSignal: AbortSignal | undefined): Promise<void> {
    const body = takePending();
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body,
        ContentLength: body.length,
        ...objectParams(options),
        ...checksumParams(options),
      }),
      sendOptions(callSignal),
    );
  }

  async function discardUpload(): Promise<void> {
    const current = upload;
    upload = undefined;
    if (current !== undefined) await abortUpload(target, key, current.id);
  }

  return {
    get size() {
      return base.size + written;
    },

    write(src, opts) {
      return lifecycle.writeChunks(src, opts?.signal, async (chunk) => {
        if (!baseLoaded) await loadBase(opts?.signal);
        // Copied: callers may reuse their buffers once the chunk is handed over.
        pending.push(Buffer.from(chunk));
        pendingBytes += chunk.length;
        written += chunk.length;
        if (pendingBytes >= options.chunkSize) await uploadPart(opts?.signal);
      });
    },

    async commit(opts?: CallOptions) {
      lifecycle.begin('commit');
      try {
        opts?.signal?.throwIfAborted();
        if (written === 0 && append && base.etag !== undefined) {
          // Nothing new: the committed object already is the content.
        } else if (upload !== undefined || (append && base.size >= MIN_PART_SIZE && written > 0)) {
          const current = await startUpload(opts?.signal);
          if (pendingBytes > 0) await uploadPart(opts?.signal);
          await client.send(
            new CompleteMultipartUploadCommand({
              Bucket: bucket,
              Key: key,
              UploadId: current.id,
              MultipartUpload: { Parts: current.parts },
            }),
            sendOptions(opts?.signal),
          );
          upload = undefined;
        } else {
          await putWhole(opts?.signal);
        }
        lifecycle.markCommitted();
      } finally {
        lifecycle.end();
      }
    },

    async close() {
      if (!lifecycle.markClosed()) return;
      pending = [];
      pendingBytes = 0;
      await discardUpload();
    },

    async cancel() {
      if (!lifecycle.markCancelled()) return;
      pending = [];
      pendingBytes = 0;
      await discardUpload();
      // An appending writer's file is discarded entirely, committed part included.
      if (append) {
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      }
    },
  };
}
