/**
 * The `azure` driver: Azure Blob Storage through the official SDK, with distribution's key
 * layout (blob name = `rootdirectory` prefix + driver path without its leading slash), so a
 * container written by registry:2's azure driver serves under Berth and the other way round.
 *
 * Directories are virtual: one exists while some blob name continues it with '/'. Listing is
 * hierarchical ('/' delimiter) and paginated; walks list flat, a page of thousands of names per
 * request, and derive the directories. Writers stage blocks and commit block lists (see
 * azure-writer.ts); moves are server-side copies; redirects are read-only SAS URLs.
 */
import { Readable } from 'node:stream';
import {
  BlobSASPermissions,
  BlobServiceClient,
  type ContainerClient,
  SASProtocol,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import type { CallOptions, FileInfo, StorageDriver } from '../driver.js';
import { InvalidOffsetError, PathNotFoundError } from '../errors.js';
import { validatePath } from '../paths.js';
import type { AzureDriverOptions } from './azure-config.js';
import {
  abortOption,
  azureErrorCode,
  isAzureNotFound,
  isAzureStatus,
  isContainerNotFound,
  isInvalidRange,
} from './azure-sdk.js';
import { openBlockWriter } from './azure-writer.js';
import { bodyStream, checkRead, readObjectBody } from './common.js';
import { walkFlatListing } from './flat-walk.js';
import { addChildren, type ListedObject, listedChildren, listedFiles } from './object-listing.js';

export type { AzureDriverOptions } from './azure-config.js';

/** How long a redirect URL stays valid; distribution's azure driver uses the same 20 minutes. */
export const REDIRECT_TTL_MS = 20 * 60 * 1000;
/** SAS start times lie this far in the past, so a client whose clock runs behind can use them. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;
/** Names per listing request: the service's maximum. */
const PAGE_SIZE = 5000;
/** Blobs deleted concurrently when a directory is deleted. */
const DELETE_BATCH = 16;
/** Re-requests of the rest of a download whose connection broke, from where it broke. */
const READ_RETRIES = 3;

/**
 * Creates the driver. No request is made here: a missing container is created by the first write,
 * and reads before that see an empty store.
 */
export function createAzureDriver(options: AzureDriverOptions): StorageDriver {
  const credential = new StorageSharedKeyCredential(options.accountName, options.accountKey);
  const service = new BlobServiceClient(options.serviceURL, credential, {
    userAgentOptions: { userAgentPrefix: 'berth' },
  });
  const container: ContainerClient = service.getContainerClient(options.container);
  const prefix = options.rootDirectory === '' ? '' : `${options.rootDirectory}/`;
  const sasProtocol = options.serviceURL.startsWith('https:') ? SASProtocol.Https : SASProtocol.HttpsAndHttp;

  /** The blob name of a (non-root) driver path. */
  const blobName = (path: string): string => prefix + path.slice(1);
  /** The name prefix of everything below a directory. */
  const dirPrefix = (path: string): string => (path === '/' ? prefix : `${blobName(path)}/`);
  const blob = (path: string) => container.getBlobClient(blobName(path));

  let creating: Promise<unknown> | undefined;
  async function withContainer<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (error) {
      if (!isContainerNotFound(error)) throw error;
      // Like registry:2's azure driver, bring up the container rather than fail every push.
      creating ??= container.createIfNotExists().finally(() => {
        creating = undefined;
      });
      await creating;
      return op();
    }
  }

  function readURL(path: string): Promise<string> {
    const now = Date.now();
    return blob(path).generateSasUrl({
      permissions: BlobSASPermissions.parse('r'),
      startsOn: new Date(now - CLOCK_SKEW_MS),
      expiresOn: new Date(now + REDIRECT_TTL_MS),
      protocol: sasProtocol,
    });
  }

  /** Every blob name below `namePrefix`, flat, in name order; nothing when the container is missing. */
  async function* listNames(namePrefix: string, signal: AbortSignal | undefined): AsyncGenerator<ListedObject> {
    const pages = container
      .listBlobsFlat({ prefix: namePrefix, ...abortOption(signal) })
      .byPage({ maxPageSize: PAGE_SIZE });
    try {
      for await (const page of pages) {
        for (const item of page.segment.blobItems) {
          yield { key: item.name, size: item.properties.contentLength ?? 0, modTime: item.properties.lastModified };
        }
      }
    } catch (error) {
      if (!isContainerNotFound(error)) throw error;
    }
  }

  /**
   * A directory exists while some blob continues its name: one listing request of one name. The
   * root always exists, but is still asked about, so a health check's `stat('/')` reaches the service.
   */
  async function describeDirectory(path: string, signal: AbortSignal | undefined): Promise<FileInfo | undefined> {
    const pages = container
      .listBlobsFlat({ prefix: dirPrefix(path), ...abortOption(signal) })
      .byPage({ maxPageSize: 1 });
    let first: { properties: { lastModified: Date } } | undefined;
    try {
      const page = await pages.next();
      first = page.done === true ? undefined : page.value.segment.blobItems[0];
    } catch (error) {
      if (!isContainerNotFound(error)) throw error;
    }
    if (first === undefined) return path === '/' ? { path, size: 0, modTime: new Date(), isDir: true } : undefined;
    return { path, size: 0, modTime: first.properties.lastModified, isDir: true };
  }

  async function deleteBlob(name: string, signal: AbortSignal | undefined): Promise<boolean> {
    try {
      await container.getBlobClient(name).delete({ ...abortOption(signal), deleteSnapshots: 'include' });
      return true;
    } catch (error) {
      if (isAzureNotFound(error)) return false;
      throw error;
    }
  }

  async function stat(path: string, opts?: CallOptions): Promise<FileInfo> {
    validatePath(path, true);
    opts?.signal?.throwIfAborted();
    if (path === '/') return (await describeDirectory(path, opts?.signal))!;
    try {
      const props = await blob(path).getProperties({ ...abortOption(opts?.signal) });
      return { path, size: props.contentLength ?? 0, modTime: props.lastModified ?? new Date(), isDir: false };
    } catch (error) {
      if (!isAzureNotFound(error)) throw error;
    }
    const dir = await describeDirectory(path, opts?.signal);
    if (dir === undefined) throw new PathNotFoundError(path);
    return dir;
  }

  /**
   * Server-side copy of the blob at `from` onto `to`. Within one account it normally completes in
   * the first response; a pending copy is polled distribution's way and aborted when it stalls.
   */
  async function copy(from: string, to: string, signal: AbortSignal | undefined): Promise<void> {
    const target = blob(to);
    let poller: Awaited<ReturnType<typeof target.beginCopyFromURL>>;
    try {
      poller = await target.beginCopyFromURL(await readURL(from), {
        intervalInMs: options.copyStatusPollDelayMs,
        ...abortOption(signal),
      });
    } catch (error) {
      if (isAzureNotFound(error)) throw new PathNotFoundError(from, { cause: error });
      throw error;
    }
    for (let attempt = 1; !poller.isDone(); attempt++) {
      if (attempt > options.copyStatusPollMaxRetry) {
        await poller.cancelOperation().catch(() => undefined);
        throw new Error(`server-side copy of ${from} to ${to} still pending after ${attempt - 1} polls; aborted`);
      }
      await new Promise((resolve) => setTimeout(resolve, options.copyStatusPollDelayMs * attempt));
      signal?.throwIfAborted();
      await poller.poll(abortOption(signal));
    }
    const failure = poller.getOperationState().error;
    if (failure !== undefined) throw failure;
  }

  return {
    name: 'azure',

    async getContent(path, opts) {
      validatePath(path);
      opts?.signal?.throwIfAborted();
      let response: Awaited<ReturnType<ReturnType<typeof blob>['download']>>;
      try {
        response = await blob(path).download(0, undefined, {
          ...abortOption(opts?.signal),
          maxRetryRequests: READ_RETRIES,
        });
      } catch (error) {
        if (isAzureNotFound(error)) throw new PathNotFoundError(path, { cause: error });
        throw error;
      }
      return readObjectBody(path, response.readableStreamBody as Readable | undefined, response.contentLength, opts);
    },

    async putContent(path, content, opts) {
      validatePath(path);
      opts?.signal?.throwIfAborted();
      const target = container.getBlockBlobClient(blobName(path));
      const upload = () => target.upload(content, content.byteLength, { ...abortOption(opts?.signal) });
      try {
        await withContainer(upload);
      } catch (error) {
        // An append blob from an old registry:2 cannot be replaced in place: delete, then write.
        if (!isAzureStatus(error, 409) || azureErrorCode(error) !== 'InvalidBlobType') throw error;
        await deleteBlob(blobName(path), opts?.signal);
        await upload();
      }
    },

    async reader(path, opts) {
      const { offset, length } = checkRead(path, opts);
      const client = blob(path);
      /** Answers what a ranged GET cannot: an empty range, or a range at or past the end. */
      const emptyAt = async (): Promise<Readable> => {
        let size: number;
        try {
          size = (await client.getProperties({ ...abortOption(opts?.signal) })).contentLength ?? 0;
        } catch (error) {
          if (isAzureNotFound(error)) throw new PathNotFoundError(path, { cause: error });
          throw error;
        }
        if (offset > size) throw new InvalidOffsetError(path, offset);
        return Readable.from([]);
      };
      if (length === 0) return emptyAt();
      try {
        const response = await client.download(offset, length, {
          ...abortOption(opts?.signal),
          maxRetryRequests: READ_RETRIES,
        });
        return bodyStream(response.readableStreamBody as Readable | undefined, opts?.signal);
      } catch (error) {
        if (isAzureNotFound(error)) throw new PathNotFoundError(path, { cause: error });
        if (isInvalidRange(error)) return emptyAt();
        throw error;
      }
    },

    async writer(path, opts) {
      validatePath(path);
      opts?.signal?.throwIfAborted();
      return openBlockWriter(
        {
          path,
          blob: container.getBlockBlobClient(blobName(path)),
          blockSize: options.blockSize,
          withContainer,
          readURL: () => readURL(path),
        },
        opts?.append === true,
        opts?.signal,
      );
    },

    stat,

    async list(path, opts) {
      validatePath(path, true);
      opts?.signal?.throwIfAborted();
      const namePrefix = dirPrefix(path);
      const children = new Set<string>();
      try {
        const pages = container
          .listBlobsByHierarchy('/', { prefix: namePrefix, ...abortOption(opts?.signal) })
          .byPage({ maxPageSize: PAGE_SIZE });
        for await (const page of pages) {
          addChildren(children, path, namePrefix, [
            ...page.segment.blobItems.map((item) => item.name),
            ...(page.segment.blobPrefixes ?? []).map((item) => item.name.slice(0, -1)),
          ]);
        }
      } catch (error) {
        if (!isContainerNotFound(error)) throw error;
      }
      return listedChildren(path, children);
    },

    async move(from, to, opts) {
      validatePath(from);
      validatePath(to);
      opts?.signal?.throwIfAborted();
      if (from === to) {
        await stat(from, opts);
        return;
      }
      await copy(from, to, opts?.signal);
      await deleteBlob(blobName(from), opts?.signal);
    },

    async delete(path, opts) {
      validatePath(path);
      opts?.signal?.throwIfAborted();
      if (await deleteBlob(blobName(path), opts?.signal)) return;
      let found = false;
      let batch: string[] = [];
      const flushBatch = async (): Promise<void> => {
        await Promise.all(batch.map((name) => deleteBlob(name, opts?.signal)));
        batch = [];
      };
      // Every name below the directory, also ones no driver path has: the whole tree goes.
      for await (const item of listNames(dirPrefix(path), opts?.signal)) {
        found = true;
        batch.push(item.key);
        if (batch.length >= DELETE_BATCH) await flushBatch();
      }
      await flushBatch();
      if (!found) throw new PathNotFoundError(path);
    },

    async *walk(path, opts) {
      validatePath(path, true);
      if (opts?.startAfter !== undefined) validatePath(opts.startAfter, true);
      yield* walkFlatListing(listedFiles(listNames(dirPrefix(path), opts?.signal), prefix), path, {
        signal: opts?.signal,
        startAfter: opts?.startAfter,
        descend: opts?.descend,
      });
    },

    async redirectURL(path, _method, opts) {
      validatePath(path);
      opts?.signal?.throwIfAborted();
      return readURL(path);
    },
  };
}
