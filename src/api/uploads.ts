/**
 * Blob uploads: `POST /v2/<name>/blobs/uploads/` (new session, monolithic `?digest=`,
 * cross-repository `?mount=&from=`) and `GET/PATCH/PUT/DELETE /v2/<name>/blobs/uploads/<id>`.
 * Bodies are streamed to the session, never buffered.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { bodyStream, declaredLength, hasBody } from '../http/body.js';
import { type UploadState, UploadStateError } from '../http/upload-state.js';
import { RegistryError, UploadRangeError } from '../registry/errors.js';
import { type Digest, isDigest, isRepositoryName, parseDigest, type RepositoryName } from '../registry/names.js';
import type { UploadSession } from '../registry/types.js';
import { type ApiContext, type MethodHandlers, type RouteOf, sendEmpty } from './context.js';
import { ApiError } from './errors.js';

type StartContext = ApiContext<RouteOf<'upload-start'>>;
type UploadContext = ApiContext<RouteOf<'upload'>>;

/** Distribution reports an empty session as `0-0` (ambiguous, but what clients expect). */
export function rangeHeader(size: number): string {
  return size === 0 ? '0-0' : `0-${size - 1}`;
}

function sessionHeaders(ctx: ApiContext, name: RepositoryName, session: UploadSession, size = session.size) {
  const state = ctx.options.uploadState.pack({
    name,
    uuid: session.id,
    offset: size,
    startedAt: session.startedAt,
    sha256: session.sha256At(size),
  });
  return {
    Location: ctx.urls.upload(name, session.id, state),
    Range: rangeHeader(size),
    'Docker-Upload-UUID': session.id,
  } satisfies OutgoingHttpHeaders;
}

function blobCreated(ctx: ApiContext, name: RepositoryName, digest: Digest): void {
  sendEmpty(ctx, 201, { Location: ctx.urls.blob(name, digest), 'Docker-Content-Digest': digest });
}

/** The `digest` query parameter a commit needs. @throws RegistryError DIGEST_INVALID */
function requiredDigest(query: URLSearchParams): Digest {
  const value = query.get('digest');
  if (value === null || value === '') throw new RegistryError('DIGEST_INVALID', 'digest parameter missing');
  return parseDigest(value);
}

async function startUpload(ctx: StartContext): Promise<void> {
  const { query, signal } = ctx;
  const { name } = ctx.route;
  const repository = ctx.registry.repository(name);
  const mount = query.get('mount');
  if (mount !== null) {
    if (await tryMount(ctx, mount, query.get('from'))) return;
  } else {
    const digestParam = query.get('digest');
    if (digestParam !== null) {
      await monolithicUpload(ctx, requiredDigest(query));
      return;
    }
  }
  // A mount that cannot be served falls back to a new session, as the spec allows.
  const session = await repository.uploads().create({ signal });
  sendEmpty(ctx, 202, sessionHeaders(ctx, name, session));
}

/** Links `mount` from `from` (or from any repository when absent); false when it cannot. */
async function tryMount(ctx: StartContext, mount: string, from: string | null): Promise<boolean> {
  // Malformed mount parameters are ignored rather than rejected, like distribution does.
  if (!isDigest(mount)) return false;
  let source: RepositoryName | undefined;
  if (from !== null) {
    if (!isRepositoryName(from)) return false;
    source = from;
  }
  const { name } = ctx.route;
  const mounted = await ctx.registry.repository(name).blobs().mount(mount, source, { signal: ctx.signal });
  if (mounted === undefined) return false;
  blobCreated(ctx, name, mount);
  return true;
}

async function monolithicUpload(ctx: StartContext, digest: Digest): Promise<void> {
  const { name } = ctx.route;
  const session = await ctx.registry.repository(name).uploads().create({ signal: ctx.signal });
  try {
    if (hasBody(ctx.req)) await session.append(bodyStream(ctx.req, ctx.signal), appendOptions(ctx, undefined));
    const descriptor = await session.commit(digest, { signal: ctx.signal });
    blobCreated(ctx, name, descriptor.digest);
  } catch (error) {
    // Without a signal: the cleanup must run even when the client has gone.
    await session.cancel().catch(() => undefined);
    throw error;
  }
}

function appendOptions(ctx: ApiContext, offset: number | undefined) {
  const expectedLength = declaredLength(ctx.req);
  return {
    signal: ctx.signal,
    ...(offset === undefined ? {} : { offset }),
    ...(expectedLength === undefined ? {} : { expectedLength }),
  };
}

const CONTENT_RANGE = /^(?:bytes[ =])?\s*(\d{1,15})-(\d{1,15})$/i;

/**
 * Checks `Content-Range` (`<start>-<end>`, optionally prefixed `bytes ` or `bytes=`) against
 * the session and `Content-Length`.
 * @returns the chunk's offset, or undefined when the header is absent.
 * @throws UploadRangeError when out of order; ApiError RANGE_INVALID when malformed;
 *   RegistryError SIZE_INVALID when the lengths disagree.
 */
function chunkOffset(ctx: UploadContext, session: UploadSession): number | undefined {
  const header = ctx.req.headers['content-range'];
  if (header === undefined) return undefined;
  const match = CONTENT_RANGE.exec(header.trim());
  if (match === null) {
    throw new ApiError(416, 'RANGE_INVALID', 'invalid Content-Range', { contentRange: header.slice(0, 100) });
  }
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (start > end) throw new ApiError(416, 'RANGE_INVALID', 'invalid Content-Range', { start, end });
  if (start !== session.size) throw new UploadRangeError(session.size, start);
  const length = declaredLength(ctx.req);
  if (length !== undefined && length !== end - start + 1) {
    throw new RegistryError('SIZE_INVALID', 'Content-Length does not match Content-Range', { length, start, end });
  }
  return start;
}

/** Streams the request body into the session; a range error answers with the session's state. */
async function appendChunk(ctx: UploadContext, session: UploadSession, state: UploadState): Promise<number> {
  try {
    const ranged = chunkOffset(ctx, session);
    if (!hasBody(ctx.req)) return session.size;
    // Without a range the client appends where its URL says the upload stands; storage decides
    // whether that is still true (a replayed or stale URL gets 416 and the stored range).
    const offset = ranged ?? state.offset;
    if (offset !== session.size) throw new UploadRangeError(session.size, offset);
    return await session.append(bodyStream(ctx.req, ctx.signal), appendOptions(ctx, offset));
  } catch (error) {
    if (error instanceof UploadRangeError || (error instanceof ApiError && error.status === 416)) {
      const size = error instanceof UploadRangeError ? error.currentSize : session.size;
      for (const [key, value] of Object.entries(sessionHeaders(ctx, ctx.route.name, session, size))) {
        ctx.res.setHeader(key, value);
      }
    }
    throw error;
  }
}

/**
 * Checks the signed `_state` of the upload URL, then opens the session from storage. Like
 * distribution, a missing, tampered or foreign state (another repository or session) is a
 * 400 BLOB_UPLOAD_INVALID, and it is checked before storage is touched.
 */
async function resume(ctx: UploadContext): Promise<{ session: UploadSession; state: UploadState }> {
  const { name, id } = ctx.route;
  let state: UploadState;
  try {
    state = ctx.options.uploadState.unpack(ctx.query.get('_state'));
  } catch (error) {
    if (!(error instanceof UploadStateError)) throw error;
    throw new ApiError(400, 'BLOB_UPLOAD_INVALID', 'blob upload invalid', { reason: error.message });
  }
  if (state.name !== name || state.uuid !== id) {
    throw new ApiError(400, 'BLOB_UPLOAD_INVALID', 'blob upload invalid', {
      reason: 'upload state is for another repository or session',
    });
  }
  const session = await ctx.registry.repository(name).uploads().resume(id, { signal: ctx.signal });
  return { session, state };
}

async function patchUpload(ctx: UploadContext): Promise<void> {
  const { session, state } = await resume(ctx);
  const size = await appendChunk(ctx, session, state);
  sendEmpty(ctx, 202, sessionHeaders(ctx, ctx.route.name, session, size));
}

async function finishUpload(ctx: UploadContext): Promise<void> {
  // Distribution's order: the upload state, then the session, then the digest parameter.
  const { session, state } = await resume(ctx);
  const digest = requiredDigest(ctx.query);
  await appendChunk(ctx, session, state);
  // The URL's signed digest of the bytes so far spares another process reading them back.
  const known = state.sha256 === undefined ? undefined : { offset: state.offset, hex: state.sha256 };
  const descriptor = await session.commit(digest, { signal: ctx.signal, known });
  blobCreated(ctx, ctx.route.name, descriptor.digest);
}

async function uploadStatus(ctx: UploadContext): Promise<void> {
  const { session } = await resume(ctx);
  sendEmpty(ctx, 204, sessionHeaders(ctx, ctx.route.name, session));
}

async function cancelUpload(ctx: UploadContext): Promise<void> {
  const { session } = await resume(ctx);
  await session.cancel({ signal: ctx.signal });
  sendEmpty(ctx, 204);
}

export const uploadStartHandlers: MethodHandlers<RouteOf<'upload-start'>> = { POST: startUpload };

export const uploadHandlers: MethodHandlers<RouteOf<'upload'>> = {
  GET: uploadStatus,
  HEAD: uploadStatus,
  PATCH: patchUpload,
  PUT: finishUpload,
  DELETE: cancelUpload,
};
