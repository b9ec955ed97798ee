/**
 * `GET/HEAD/PUT/DELETE /v2/<name>/manifests/<reference>`: manifests by tag or digest, with
 * `Accept` negotiation for tags, bodies capped at `maxManifestBytes`, and OCI 1.1 untagging.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { readCappedBody } from '../http/body.js';
import { RegistryError } from '../registry/errors.js';
import { isDigest } from '../registry/names.js';
import type { Repository, StoredManifest } from '../registry/types.js';
import { linuxAmd64Child, MEDIA_TYPES, parseAccept } from './accept.js';
import { type ApiContext, type MethodHandlers, matchesETag, type RouteOf, sendEmpty } from './context.js';

type ManifestContext = ApiContext<RouteOf<'manifest'>>;

async function readManifest(ctx: ManifestContext): Promise<void> {
  const { req, res, route, signal } = ctx;
  const repository = ctx.registry.repository(route.name);
  let manifest: StoredManifest;
  if (route.reference.kind === 'digest') {
    manifest = await repository.manifests().get(route.reference.digest, { signal });
  } else {
    const digest = await repository.tags().get(route.reference.tag, { signal });
    manifest = await negotiate(ctx, repository, await repository.manifests().get(digest, { signal }));
  }
  const headers: OutgoingHttpHeaders = {
    'Content-Type': manifest.mediaType,
    'Docker-Content-Digest': manifest.digest,
    ETag: `"${manifest.digest}"`,
  };
  if (matchesETag(req, manifest.digest)) {
    sendEmpty(ctx, 304, headers);
    return;
  }
  headers['Content-Length'] = manifest.payload.length;
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : manifest.payload);
}

/**
 * Applies the client's `Accept` to a manifest found by tag. An old client that accepts Docker
 * schema 2 but not manifest lists gets the list's linux/amd64 image, as registry:2 does.
 * @throws RegistryError MANIFEST_UNKNOWN when nothing acceptable can be served
 */
async function negotiate(ctx: ManifestContext, repository: Repository, found: StoredManifest): Promise<StoredManifest> {
  const acceptance = parseAccept(ctx.req);
  if (!acceptance.restricted || acceptance.accepts(found.mediaType)) return found;
  if (found.mediaType === MEDIA_TYPES.dockerList && acceptance.accepts(MEDIA_TYPES.dockerManifest)) {
    const child = linuxAmd64Child(found.payload);
    if (child !== undefined && isDigest(child)) return repository.manifests().get(child, { signal: ctx.signal });
    throw new RegistryError('MANIFEST_UNKNOWN', 'no linux/amd64 manifest in the manifest list', {
      mediaType: found.mediaType,
    });
  }
  throw new RegistryError(
    'MANIFEST_UNKNOWN',
    `manifest of type ${found.mediaType} found, but the Accept header does not include it`,
    { mediaType: found.mediaType },
  );
}

/** The request's media type without parameters, or undefined when absent. */
function mediaTypeOf(header: string | undefined): string | undefined {
  const type = header?.split(';')[0]?.trim();
  return type === undefined || type === '' ? undefined : type;
}

async function putManifest(ctx: ManifestContext): Promise<void> {
  const { route, signal } = ctx;
  const payload = await readCappedBody(ctx.req, ctx.options.maxManifestBytes, ctx.signal);
  const ref = route.reference;
  const result = await ctx.registry
    .repository(route.name)
    .manifests()
    .put(payload, mediaTypeOf(ctx.req.headers['content-type']), {
      signal,
      ...(ref.kind === 'tag' ? { tag: ref.tag } : { expectedDigest: ref.digest }),
    });
  const headers: OutgoingHttpHeaders = {
    Location: ctx.urls.manifest(route.name, result.digest),
    'Docker-Content-Digest': result.digest,
  };
  if (result.subject !== undefined) headers['OCI-Subject'] = result.subject;
  sendEmpty(ctx, 201, headers);
}

async function deleteManifest(ctx: ManifestContext): Promise<void> {
  const { route, signal } = ctx;
  const repository = ctx.registry.repository(route.name);
  if (route.reference.kind === 'digest') await repository.manifests().delete(route.reference.digest, { signal });
  else await repository.tags().untag(route.reference.tag, { signal });
  sendEmpty(ctx, 202);
}

export const manifestHandlers: MethodHandlers<RouteOf<'manifest'>> = {
  GET: readManifest,
  HEAD: readManifest,
  PUT: putManifest,
  DELETE: deleteManifest,
};
