/** `GET /v2/<name>/tags/list?n=&last=`: the repository's tags in lexical order, paginated. */
import { type ApiContext, type MethodHandlers, type RouteOf, sendJson } from './context.js';
import { fetchPage, nextLink, parsePage } from './pagination.js';

async function listTags(ctx: ApiContext<RouteOf<'tags'>>): Promise<void> {
  const { name } = ctx.route;
  const page = parsePage(ctx.query);
  const tags = ctx.registry.repository(name).tags();
  const { entries, next } = await fetchPage(page, (last, limit) => tags.list({ last, limit, signal: ctx.signal }));
  const headers: Record<string, string> = {};
  if (next !== undefined && page.limit !== undefined) {
    headers['Link'] = nextLink(ctx.urls.apiPath(`${name}/tags/list`), next, page.limit);
  }
  sendJson(ctx, 200, { name, tags: entries }, headers);
}

export const tagsHandlers: MethodHandlers<RouteOf<'tags'>> = { GET: listTags, HEAD: listTags };
