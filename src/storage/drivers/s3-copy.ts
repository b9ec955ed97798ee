/**
 * Server-side copies for the s3 driver: one CopyObject up to `multipartcopythresholdsize`, above
 * it a multipart upload of UploadPartCopy ranges run `multipartcopymaxconcurrency` at a time, as
 * distribution's s3 driver does. The bytes never pass through the registry.
 */
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  type ObjectCannedACL,
  type PutObjectCommandInput,
  type S3Client,
  type StorageClass,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { MAX_PART_SIZE, MIN_PART_SIZE, type S3DriverOptions } from './s3-config.js';
import { sendOptions } from './s3-sdk.js';

/** S3's limit of parts in one multipart upload. */
export const MAX_PARTS = 10_000;

/** What writes and copies need from the driver. */
export interface S3Target {
  client: S3Client;
  bucket: string;
  options: S3DriverOptions;
}

/** Parameters every new object is created with (encryption, storage class, ACL, content type). */
export type ObjectParams = Pick<
  PutObjectCommandInput,
  'ContentType' | 'ServerSideEncryption' | 'SSEKMSKeyId' | 'StorageClass' | 'ACL'
>;

export function objectParams(options: S3DriverOptions): ObjectParams {
  const out: ObjectParams = { ContentType: 'application/octet-stream' };
  if (options.encrypt) {
    out.ServerSideEncryption = options.keyId === undefined ? 'AES256' : 'aws:kms';
    if (options.keyId !== undefined) out.SSEKMSKeyId = options.keyId;
  }
  // Both were checked against the SDK's own lists when the parameters were parsed.
  if (options.storageClass !== undefined) out.StorageClass = options.storageClass as StorageClass;
  if (options.objectAcl !== undefined) out.ACL = options.objectAcl as ObjectCannedACL;
  return out;
}

/** `{ ChecksumAlgorithm }` when one is configured, for uploads. */
export function checksumParams(options: S3DriverOptions): { ChecksumAlgorithm?: S3DriverOptions['checksumAlgorithm'] } {
  return options.checksumAlgorithm === undefined || options.checksumDisabled
    ? {}
    : { ChecksumAlgorithm: options.checksumAlgorithm };
}

/** The completed-part record of a part answer, keeping its checksum when uploads carry one. */
export function completedPart(
  partNumber: number,
  answer: { ETag?: string | undefined } & Partial<Record<(typeof PART_CHECKSUMS)[number], string | undefined>>,
): CompletedPart {
  const part: CompletedPart = { PartNumber: partNumber };
  if (answer.ETag !== undefined) part.ETag = answer.ETag;
  for (const field of PART_CHECKSUMS) {
    const value = answer[field];
    if (value !== undefined) part[field] = value;
  }
  return part;
}

const PART_CHECKSUMS = [
  'ChecksumCRC32',
  'ChecksumCRC32C',
  'ChecksumCRC64NVME',
  'ChecksumSHA1',
  'ChecksumSHA256',
] as const;

/**
 * Splits `size` bytes into inclusive byte ranges of about `partSize`. When more parts `follow`
 * (an append continues after the copied content), every range must be a valid non-final part,
 * so a short tail is merged into the range before it.
 */
export function copyRanges(size: number, partSize: number, follow: boolean): Array<[number, number]> {
  const step = Math.max(partSize, Math.ceil(size / MAX_PARTS));
  const ranges: Array<[number, number]> = [];
  for (let start = 0; start < size; start += step) ranges.push([start, Math.min(start + step, size) - 1]);
  const last = ranges.at(-1);
  const previous = ranges.at(-2);
  if (follow && last !== undefined && previous !== undefined && last[1] - last[0] + 1 < MIN_PART_SIZE) {
    if (last[1] - previous[0] + 1 <= MAX_PART_SIZE) {
      ranges.pop();
      previous[1] = last[1];
    }
  }
  return ranges;
}

/** Runs `tasks` with at most `limit` in flight; the first failure rejects (others are left to settle). */
async function runLimited<T>(tasks: Array<() => Promise<T>>, limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

export interface CopyPartsRequest {
  uploadId: string;
  /** The key of the multipart upload receiving the parts. */
  key: string;
  sourceKey: string;
  /** Bytes of the source to copy, from its start. */
  size: number;
  /** Copy only while the source still has this ETag (the one its size was read with). */
  ifMatch?: string | undefined;
  /** Part number of the first copied part. */
  firstPart: number;
  /** Whether data parts follow the copied ones (so no copied part may be short). */
  follow: boolean;
}

/** Copies a source object into parts of a multipart upload, server-side; returns the parts in order. */
export async function copyParts(
  target: S3Target,
  request: CopyPartsRequest,
  signal: AbortSignal | undefined,
): Promise<CompletedPart[]> {
  const { client, bucket, options } = target;
  const ranges = copyRanges(request.size, options.multipartCopyChunkSize, request.follow);
  const tasks = ranges.map(([start, end], i) => async (): Promise<CompletedPart> => {
    signal?.throwIfAborted();
    const partNumber = request.firstPart + i;
    const answer = await client.send(
      new UploadPartCopyCommand({
        Bucket: bucket,
        Key: request.key,
        UploadId: request.uploadId,
        PartNumber: partNumber,
        CopySource: `${bucket}/${request.sourceKey}`,
        CopySourceRange: `bytes=${start}-${end}`,
        ...(request.ifMatch === undefined ? {} : { CopySourceIfMatch: request.ifMatch }),
      }),
      sendOptions(signal),
    );
    return completedPart(partNumber, answer.CopyPartResult ?? {});
  });
  return runLimited(tasks, options.multipartCopyMaxConcurrency);
}

/**
 * Copies `sourceKey` (of `size` bytes) onto `targetKey` server-side, replacing any object there.
 * The target appears whole or not at all.
 */
export async function copyObject(
  target: S3Target,
  sourceKey: string,
  targetKey: string,
  size: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  const { client, bucket, options } = target;
  const { ContentType: _contentType, ...params } = objectParams(options);
  if (size <= options.multipartCopyThresholdSize || size === 0) {
    await client.send(
      new CopyObjectCommand({ Bucket: bucket, Key: targetKey, CopySource: `${bucket}/${sourceKey}`, ...params }),
      sendOptions(signal),
    );
    return;
  }
  const created = await client.send(
    new CreateMultipartUploadCommand({ Bucket: bucket, Key: targetKey, ...objectParams(options) }),
    sendOptions(signal),
  );
  const uploadId = created.UploadId;
  if (uploadId === undefined) throw new Error(`no upload id for a multipart copy to ${targetKey}`);
  try {
    const parts = await copyParts(
      target,
      { uploadId, key: targetKey, sourceKey, size, firstPart: 1, follow: false },
      signal,
    );
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: targetKey,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
      }),
      sendOptions(signal),
    );
  } catch (error) {
    await abortUpload(target, targetKey, uploadId);
    throw error;
  }
}

/** Aborts a multipart upload, best effort: a failure only leaves parts a bucket lifecycle rule removes. */
export async function abortUpload(target: S3Target, key: string, uploadId: string): Promise<void> {
  try {
    await target.client.send(new AbortMultipartUploadCommand({ Bucket: target.bucket, Key: key, UploadId: uploadId }));
  } catch {
    // Nothing more to do: the upload is invisible either way.
  }
}
