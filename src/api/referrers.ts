/** `GET /v2/<name>/referrers/<digest>[?artifactType=]`: an OCI index of the subject's referrers. */
import { type ApiContext, type MethodHandlers, type RouteOf, sendJson } from './context.js';

const INDEX_TYPE = 'application/vnd.oci.image.index.v1+json';

async function listReferrers(ctx: ApiContext<RouteOf<'referrers'>>): Promise<void> {
  const { name, digest } = ctx.route;
  const artifactType = ctx.query.get('artifactType') || undefined;
  const descriptors = await ctx.registry
    .repository(name)
    .referrers()
    .list(digest, artifactType === undefined ? { signal: ctx.signal } : { artifactType, signal: ctx.signal });
  const manifests = descriptors.map((d) => ({
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.artifactType === undefined ? {} : { artifactType: d.artifactType }),
    ...(d.annotations === undefined ? {} : { annotations: d.annotations }),
  }));
  const headers: Record<string, string> = artifactType === undefined ? {} : { 'OCI-Filters-Applied': 'artifactType' };
  sendJson(ctx, 200, { schemaVersion: 2, mediaType: INDEX_TYPE, manifests }, headers, INDEX_TYPE);
}

export const referrersHandlers: MethodHandlers<RouteOf<'referrers'>> = { GET: listReferrers, HEAD: listReferrers };
