/** `n`/`last` query parsing and RFC 5988 `Link` headers for tag and catalog listings. */
import { paginationNumberInvalid } from './errors.js';

export interface PageRequest {
  /** Entries lexically after this one. */
  last: string | undefined;
  /** At most this many entries; undefined means all. */
  limit: number | undefined;
}

/**
 * Reads `n` and `last`; `n` must be a non-negative integer and is capped at `max` when given.
 * @throws ApiError PAGINATION_NUMBER_INVALID
 */
export function parsePage(query: URLSearchParams, max?: number): PageRequest {
  const last = query.get('last') ?? undefined;
  const raw = query.get('n');
  if (raw === null || raw === '') return { last: last || undefined, limit: max };
  if (!/^\d{1,15}$/.test(raw)) throw paginationNumberInvalid(raw);
  const n = Number(raw);
  return { last: last || undefined, limit: max === undefined ? n : Math.min(n, max) };
}

/**
 * Fetches one page: asks the service for one entry more than the limit to learn whether
 * another page follows without a second call.
 */
export async function fetchPage(
  page: PageRequest,
  list: (last: string | undefined, limit: number | undefined) => Promise<string[]>,
): Promise<{ entries: string[]; next: string | undefined }> {
  if (page.limit === undefined) return { entries: await list(page.last, undefined), next: undefined };
  const entries = await list(page.last, page.limit + 1);
  if (entries.length <= page.limit || page.limit === 0)
    return { entries: entries.slice(0, page.limit), next: undefined };
  const shown = entries.slice(0, page.limit);
  return { entries: shown, next: shown[shown.length - 1] };
}

/** `<path?last=…&n=…>; rel="next"` with the cursor URL-encoded. */
export function nextLink(path: string, last: string, limit: number): string {
  return `<${path}?last=${encodeURIComponent(last)}&n=${limit}>; rel="next"`;
}
