/** Shared plumbing of the driver contract suite: driver lifecycle and small stream helpers. */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { FileInfo, StorageDriver } from '../../../src/storage/driver.js';
import { pseudoRandomBytes } from '../../helpers/pseudo-random.js';

/** Creates a fresh, empty driver for one test. */
export type CreateDriver = () => StorageDriver | Promise<StorageDriver>;
/** Releases whatever `CreateDriver` allocated (temp directories, buckets, prefixes). */
export type CleanupDriver = (driver: StorageDriver) => void | Promise<void>;
/** Runs `fn` against a fresh driver and always cleans it up. */
export type WithDriver = (fn: (driver: StorageDriver) => Promise<void>) => Promise<void>;

export function createWithDriver(create: CreateDriver, cleanup?: CleanupDriver): WithDriver {
  return async (fn) => {
    const driver = await create();
    try {
      await fn(driver);
    } finally {
      await cleanup?.(driver);
    }
  };
}

export function bytes(text: string): Buffer {
  return Buffer.from(text, 'utf8');
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

export async function collect(entries: AsyncIterable<FileInfo>): Promise<FileInfo[]> {
  const out: FileInfo[] = [];
  for await (const info of entries) out.push(info);
  return out;
}

export async function walkPaths(
  driver: StorageDriver,
  path: string,
  opts?: Parameters<StorageDriver['walk']>[1],
): Promise<string[]> {
  return (await collect(driver.walk(path, opts))).map((info) => info.path);
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Every byte value in a scrambled order, so byte-mangling bugs (encodings, offsets) show up. */
export function binarySample(length = 1000): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = (i * 167 + 13) & 0xff;
  return out;
}

/** Deterministic pseudo-random chunk `index` of a generated object; cheap to recompute for ranged checks. */
export function patternChunk(index: number, size: number): Buffer {
  return pseudoRandomBytes(size, index + 1);
}

export function isAbortError(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}
