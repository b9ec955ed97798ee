/**
 * The `s3` driver: AWS S3 and S3-compatible stores through the official AWS SDK v3, with
 * distribution's key layout (key = `rootdirectory` without its leading slash + driver path
 * without its leading slash), so a bucket written by registry:2's s3 driver serves under Berth
 * and the other way round.
 *
 * Directories are virtual: one exists while some key continues it with '/'. A file stat is one
 * HeadObject; a directory stat one listing of at most one key. Listing is hierarchical ('/'
 * delimiter) and paginated; walks list flat, a thousand keys per request, and derive the
 * directories (flat-walk.ts). Writers map to multipart uploads (s3-writer.ts); moves are
 * server-side copies (s3-copy.ts); redirects are presigned URLs. The bucket must exist: like
 * distribution, the driver never creates it.
 */
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { CallOptions, FileInfo, StorageDriver } from '../driver.js';
import { InvalidOffsetError, PathNotFoundError } from '../errors.js';
import { validatePath } from '../paths.js';
import { bodyStream, checkRead, readObjectBody } from './common.js';
import { walkFlatListing, walkListingStart } from './flat-walk.js';
import { addChildren, type ListedObject, listedChildren, listedFiles } from './object-listing.js';
import type { S3DriverOptions } from './s3-config.js';
import { checksumParams, copyObject, objectParams, type S3Target } from './s3-copy.js';
import { createS3Client, isInvalidRange, isNoSuchKey, isNotImplemented, s3ErrorCode, sendOptions } from './s3-sdk.js';
import { openS3Writer } from './s3-writer.js';

export type { S3DriverOptions } from './s3-config.js';

/** How long a redirect URL stays valid; distribution's s3 driver presigns for 20 minutes too. */
export const REDIRECT_TTL_SECONDS = 20 * 60;
/** S3's limit of keys per DeleteObjects request. */
const DELETE_BATCH = 1000;
/** Single deletes in flight when a store lacks DeleteObjects. */
const SINGLE_DELETE_CONCURRENCY = 16;

/** Creates the driver. No request is made here. */
export function createS3Driver(options: S3DriverOptions): StorageDriver {
  const client = createS3Client(options);
  const { bucket } = options;
  const target: S3Target = { client, bucket, options };
  const prefix = options.rootDirectory === '' ? '' : `${options.rootDirectory}/`;

  /** The key of a (non-root) driver path. */
  const keyOf = (path: string): string => prefix + path.slice(1);
  /** The key prefix of everything below a directory. */
  const dirPrefix = (path: string): string => (path === '/' ? prefix : `${keyOf(path)}/`);

  async function head(path: string, signal: AbortSignal | undefined): Promise<FileInfo | undefined> {
    try {
      const answer = await client.send(
        new HeadObjectCommand({ Bucket: bucket, Key: keyOf(path) }),
        sendOptions(signal),
      );
      return { path, size: answer.ContentLength ?? 0, modTime: answer.LastModified ?? new Date(), isDir: false };
    } catch (error) {
      if (isNoSuchKey(error)) return undefined;
      throw error;
    }
  }

  function listPage(
    input: { Prefix: string; Delimiter?: string; MaxKeys?: number; StartAfter?: string; ContinuationToken?: string },
    signal: AbortSignal | undefined,
  ): Promise<ListObjectsV2CommandOutput> {
    return client.send(new ListObjectsV2Command({ Bucket: bucket, ...input }), sendOptions(signal));
  }

  /** Every key below `keyPrefix` (flat, in key order), page by page. */
  async function* listKeys(
    keyPrefix: string,
    signal: AbortSignal | undefined,
    startAfter?: string,
    first?: ListObjectsV2CommandOutput,
  ): AsyncGenerator<ListedObject> {
    let page =
      first ??
      (await listPage({ Prefix: keyPrefix, ...(startAfter === undefined ? {} : { StartAfter: startAfter }) }, signal));
    for (;;) {
      for (const item of page.Contents ?? []) {
        if (item.Key === undefined) continue;
        yield { key: item.Key, size: item.Size ?? 0, modTime: item.LastModified ?? new Date() };
      }
      const token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
      if (token === undefined) return;
      signal?.throwIfAborted();
      page = await listPage({ Prefix: keyPrefix, ContinuationToken: token }, signal);
    }
  }

  async function stat(path: string, opts?: CallOptions): Promise<FileInfo> {
    validatePath(path, true);
    opts?.signal?.throwIfAborted();
    if (path === '/') return { path, size: 0, modTime: new Date(), isDir: true };
    const file = await head(path, opts?.signal);
    if (file !== undefined) return file;
    const page = await listPage({ Prefix: dirPrefix(path), MaxKeys: 1 }, opts?.signal);
    const first = page.Contents?.[0];
    if (first === undefined && (page.CommonPrefixes?.length ?? 0) === 0) throw new PathNotFoundError(path);
    return { path, size: 0, modTime: first?.LastModified ?? new Date(), isDir: true };
  }

  /** Deletes keys in DeleteObjects batches, one by one where the store lacks DeleteObjects. */
  async function deleteKeys(keys: string[], signal: AbortSignal | undefined): Promise<void> {
    if (keys.length === 0) return;
    try {
      const answer = await client.send(
        new DeleteObjectsCommand({
          Bucket: bucket,
          Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
        }),
        sendOptions(signal),
      );
      const failed = answer.Errors?.[0];
      if (failed !== undefined) {
        throw new Error(`could not delete ${failed.Key ?? 'an object'}: ${failed.Code ?? ''} ${failed.Message ?? ''}`);
      }
    } catch (error) {
      // Stores without multi-object delete answer NotImplemented (older GCS: InvalidArgument).
      if (!isNotImplemented(error) && s3ErrorCode(error) !== 'InvalidArgument') throw error;
      for (let i = 0; i < keys.length; i += SINGLE_DELETE_CONCURRENCY) {
        await Promise.all(
          keys
            .slice(i, i + SINGLE_DELETE_CONCURRENCY)
            .map((Key) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key }), sendOptions(signal))),
        );
      }
    }
  }

  return {
    name: 's3',

    async getContent(path, opts) {
      validatePath(path);
      opts?.signal?.throwIfAborted();
      let answer: GetObjectCommandOutput;
      try {
        answer = await client.send(
          new GetObjectCommand({ Bucket: bucket, Key: keyOf(path) }),
          sendOptions(opts?.signal),
        );
      } catch (error) {
        if (isNoSuchKey(error)) throw new PathNotFoundError(path, { cause: error });
        throw error;
      }
      return readObjectBody(path, answer.Body as Readable | undefined, answer.ContentLength, opts);
    },

    async putContent(path, content, opts) {
      validatePath(path);
      opts?.signal?.throwIfAborted();
      // Copied: the SDK may read the body after the caller has reused its buffer (retries).
      const body = Buffer.from(content);
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: keyOf(path),
          Body: body,
          ContentLength: body.length,
          ...objectParams(options),
          ...checksumParams(options),
        }),
        sendOptions(opts?.signal),
      );
    },

    async reader(path, opts) {
      const { offset, length } = checkRead(path, opts);
      /** Answers what a ranged GET cannot: an empty range, or a range at or past the end. */
      const emptyAt = async (): Promise<Readable> => {
        const file = await head(path, opts?.signal);
        if (file === undefined) throw new PathNotFoundError(path);
        if (offset > file.size) throw new InvalidOffsetError(path, offset);
        return Readable.from([]);
      };
      if (length === 0) return emptyAt();
      const range =
        offset === 0 && length === undefined
          ? undefined
          : `bytes=${offset}-${length === undefined ? '' : offset + length - 1}`;
      try {
        const answer = await client.send(
          new GetObjectCommand({ Bucket: bucket, Key: keyOf(path), ...(range === undefined ? {} : { Range: range }) }),
          sendOptions(opts?.signal),
        );
        return bodyStream(answer.Body as Readable | undefined, opts?.signal);
      } catch (error) {
        if (isNoSuchKey(error)) throw new PathNotFoundError(path, { cause: error });
        if (isInvalidRange(error)) return emptyAt();
        throw error;
      }
    },

    async writer(path, opts) {
      validatePath(path);
      opts?.signal?.throwIfAborted();
      return openS3Writer({ ...target, path, key: keyOf(path) }, opts?.append === true, opts?.signal);
    },

    stat,

    async list(path, opts) {
      validatePath(path, true);
      opts?.signal?.throwIfAborted();
      const keyPrefix = dirPrefix(path);
      const children = new Set<string>();
      let token: string | undefined;
      do {
        const page = await listPage(
          { Prefix: keyPrefix, Delimiter: '/', ...(token === undefined ? {} : { ContinuationToken: token }) },
          opts?.signal,
        );
        addChildren(children, path, keyPrefix, [
          ...(page.Contents ?? []).map((item) => item.Key),
          ...(page.CommonPrefixes ?? []).map((item) => item.Prefix?.slice(0, -1)),
        ]);
        token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
      return listedChildren(path, children);
    },

    async move(from, to, opts) {
      validatePath(from);
      validatePath(to);
      opts?.signal?.throwIfAborted();
      const source = await head(from, opts?.signal);
      if (source === undefined) throw new PathNotFoundError(from);
      if (from === to) return;
      try {
        await copyObject(target, keyOf(from), keyOf(to), source.size, opts?.signal);
      } catch (error) {
        if (isNoSuchKey(error)) throw new PathNotFoundError(from, { cause: error });
        throw error;
      }
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: keyOf(from) }), sendOptions(opts?.signal));
    },

    async delete(path, opts) {
      validatePath(path);
      opts?.signal?.throwIfAborted();
      const keyPrefix = dirPrefix(path);
      // The object itself and the first page of the tree below it, asked at once.
      const [file, firstPage] = await Promise.all([
        head(path, opts?.signal),
        listPage({ Prefix: keyPrefix }, opts?.signal),
      ]);
      let batch: string[] = file === undefined ? [] : [keyOf(path)];
      let found = file !== undefined;
      // Every key below the directory, also ones no driver path has: the whole tree goes.
      for await (const item of listKeys(keyPrefix, opts?.signal, undefined, firstPage)) {
        found = true;
        batch.push(item.key);
        if (batch.length >= DELETE_BATCH) {
          await deleteKeys(batch, opts?.signal);
          batch = [];
        }
      }
      await deleteKeys(batch, opts?.signal);
      if (!found) throw new PathNotFoundError(path);
    },

    async *walk(path, opts) {
      validatePath(path, true);
      if (opts?.startAfter !== undefined) validatePath(opts.startAfter, true);
      opts?.signal?.throwIfAborted();
      const keyPrefix = dirPrefix(path);
      const startKey =
        opts?.startAfter === undefined || opts.startAfter === '/'
          ? undefined
          : walkListingStart(keyPrefix, keyOf(opts.startAfter));
      yield* walkFlatListing(listedFiles(listKeys(keyPrefix, opts?.signal, startKey), prefix), path, {
        signal: opts?.signal,
        startAfter: opts?.startAfter,
        descend: opts?.descend,
      });
    },

    async redirectURL(path, method, opts) {
      validatePath(path);
      opts?.signal?.throwIfAborted();
      const input = { Bucket: bucket, Key: keyOf(path) };
      const command = method === 'HEAD' ? new HeadObjectCommand(input) : new GetObjectCommand(input);
      return getSignedUrl(client, command, { expiresIn: REDIRECT_TTL_SECONDS });
    },
  };
}
