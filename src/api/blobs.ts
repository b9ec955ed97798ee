/**
 * `GET/HEAD/DELETE /v2/<name>/blobs/<digest>`: blob reads with conditional and single-range
 * requests, optional redirects to the storage backend, and link removal.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { parseRange } from '../http/ranges.js';
import { isCopyable } from '../storage/copyable.js';
import { type ApiContext, type MethodHandlers, matchesETag, type RouteOf, sendEmpty } from './context.js';
import { ApiError } from './errors.js';

type BlobContext = ApiContext<RouteOf<'blob'>>;

async function readBlob(ctx: BlobContext): Promise<void> {
  const { req, res, route, signal } = ctx;
  const { digest } = route;
  const head = req.method === 'HEAD';
  const blobs = ctx.registry.repository(route.name).blobs();
  const descriptor = await blobs.stat(digest, { signal });
  if (!ctx.options.redirectDisabled) {
    const url = await blobs.redirectURL(digest, head ? 'HEAD' : 'GET', { signal });
    if (url !== undefined) {
      sendEmpty(ctx, 307, { Location: url, 'Docker-Content-Digest': digest });
      return;
    }
  }
  const headers: OutgoingHttpHeaders = {
    'Docker-Content-Digest': digest,
    ETag: `"${digest}"`,
    'Accept-Ranges': 'bytes',
    'Cache-Control': 'max-age=31536000',
  };
  if (matchesETag(req, digest)) {
    sendEmpty(ctx, 304, headers);
    return;
  }
  const size = descriptor.size;
  const range = parseRange(req.headers.range, size);
  if (range.kind === 'unsatisfiable') {
    throw new ApiError(
      416,
      'RANGE_INVALID',
      'requested range not satisfiable',
      { size },
      {
        'Content-Range': `bytes */${size}`,
      },
    );
  }
  headers['Content-Type'] = 'application/octet-stream';
  let status = 200;
  let offset = 0;
  let length = size;
  if (range.kind === 'partial') {
    status = 206;
    offset = range.start;
    length = range.end - range.start + 1;
    headers['Content-Range'] = `bytes ${range.start}-${range.end}/${size}`;
  }
  headers['Content-Length'] = length;
  if (head) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  // The size from stat is passed on so the store does not stat the backend again.
  const content = await blobs.open(digest, { signal, offset, length, size });
  res.writeHead(status, headers);
  if (isCopyable(content.stream)) await content.stream.copyTo(res);
  else await pipeline(content.stream, res);
}

async function deleteBlob(ctx: BlobContext): Promise<void> {
  const { name, digest } = ctx.route;
  await ctx.registry.repository(name).blobs().delete(digest, { signal: ctx.signal });
  sendEmpty(ctx, 202, { 'Docker-Content-Digest': digest });
}

export const blobHandlers: MethodHandlers<RouteOf<'blob'>> = { GET: readBlob, HEAD: readBlob, DELETE: deleteBlob };
