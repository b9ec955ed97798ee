/** `GET /v2/_catalog?n=&last=`: repository names in lexical order, paginated. */
import { type ApiContext, type MethodHandlers, type RouteOf, sendJson } from './context.js';
import { fetchPage, nextLink, parsePage } from './pagination.js';

async function listRepositories(ctx: ApiContext<RouteOf<'catalog'>>): Promise<void> {
  // Capped like distribution's catalog.maxentries, so one request cannot walk everything.
  const page = parsePage(ctx.query, ctx.options.catalogMaxEntries);
  const { entries, next } = await fetchPage(page, (last, limit) =>
    ctx.registry.catalog({ last, limit, signal: ctx.signal }),
  );
  const headers: Record<string, string> = {};
  if (next !== undefined && page.limit !== undefined) {
    headers['Link'] = nextLink(ctx.urls.apiPath('_catalog'), next, page.limit);
  }
  sendJson(ctx, 200, { repositories: entries }, headers);
}

export const catalogHandlers: MethodHandlers<RouteOf<'catalog'>> = { GET: listRepositories, HEAD: listRepositories };
