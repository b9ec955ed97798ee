/** `GET /v2/<name>/tags/list?n=&last=`: the repository's tags in lexical order, paginated. */

import { createLruMap } from '../registry/lru.js';
import { sameEntries } from '../registry/tags.js';
import { type ApiContext, JSON_TYPE, type MethodHandlers, type RouteOf } from './context.js';
import { fetchPage, nextLink, parsePage } from './pagination.js';

/** Bodies of recent answers by repository, reused while the entries are the same. */
const recentBodies = createLruMap<string, { entries: readonly string[]; body: Buffer }>(256);

/**
 * The JSON body for `entries`. The tag store hands back the same strings while the tags are
 * unchanged, so comparing them is cheap next to serialising a thousand tags again.
 */
function tagsBody(name: string, entries: readonly string[]): Buffer {
  const recent = recentBodies.get(name);
  if (recent !== undefined && sameEntries(recent.entries, entries)) return recent.body;
  const body = Buffer.from(JSON.stringify({ name, tags: entries }));
  recentBodies.set(name, { entries, body });
  return body;
}

async function listTags(ctx: ApiContext<RouteOf<'tags'>>): Promise<void> {
  const { name } = ctx.route;
  const page = parsePage(ctx.query);
  const tags = ctx.registry.repository(name).tags();
  const { entries, next } = await fetchPage(page, (last, limit) => tags.list({ last, limit, signal: ctx.signal }));
  const headers: Record<string, string> = {};
  if (next !== undefined && page.limit !== undefined) {
    headers['Link'] = nextLink(ctx.urls.apiPath(`${name}/tags/list`), next, page.limit);
  }
  const body = tagsBody(name, entries);
  ctx.res.writeHead(200, { ...headers, 'Content-Type': JSON_TYPE, 'Content-Length': body.length });
  ctx.res.end(ctx.req.method === 'HEAD' ? undefined : body);
}

export const tagsHandlers: MethodHandlers<RouteOf<'tags'>> = { GET: listTags, HEAD: listTags };
