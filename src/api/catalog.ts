/**
 * `GET /v2/_catalog?n=&last=`: repository names in lexical order, paginated; under access
 * control, only those the caller may pull.
 */
import { type ApiContext, type MethodHandlers, type RouteOf, sendJson } from './context.js';
import { fetchPage, nextLink, parsePage } from './pagination.js';

/** Repositories read per storage call while filtering the catalog for a caller. */
const FILTER_BATCH = 1000;

/**
 * A catalog page with only the repositories the caller may pull (see Grant.canList): pages of
 * the full listing are read until `limit` visible names are found or the listing ends.
 */
async function listVisible(
  ctx: ApiContext<RouteOf<'catalog'>>,
  last: string | undefined,
  limit: number | undefined,
): Promise<string[]> {
  const { grant, signal } = ctx;
  if (grant === undefined) return ctx.registry.catalog({ last, limit, signal });
  const visible: string[] = [];
  let cursor = last;
  for (;;) {
    const batch = await ctx.registry.catalog({ last: cursor, limit: FILTER_BATCH, signal });
    for (const name of batch) {
      if (!grant.canList(name)) continue;
      visible.push(name);
      if (limit !== undefined && visible.length >= limit) return visible;
    }
    if (batch.length < FILTER_BATCH) return visible;
    cursor = batch[batch.length - 1];
  }
}

async function listRepositories(ctx: ApiContext<RouteOf<'catalog'>>): Promise<void> {
  // Capped like distribution's catalog.maxentries, so one request cannot walk everything.
  const page = parsePage(ctx.query, ctx.options.catalogMaxEntries);
  const { entries, next } = await fetchPage(page, (last, limit) => listVisible(ctx, last, limit));
  const headers: Record<string, string> = {};
  if (next !== undefined && page.limit !== undefined) {
    headers['Link'] = nextLink(ctx.urls.apiPath('_catalog'), next, page.limit);
  }
  sendJson(ctx, 200, { repositories: entries }, headers);
}

export const catalogHandlers: MethodHandlers<RouteOf<'catalog'>> = { GET: listRepositories, HEAD: listRepositories };
