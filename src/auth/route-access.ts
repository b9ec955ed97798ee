/**
 * The access each API request needs, as distribution computes it: pull for GET/HEAD, pull and
 * push for POST/PUT/PATCH on a repository, delete for DELETE, `registry:catalog:*` for the
 * catalog, and nothing but authentication for `GET /v2/`.
 */
import type { Route } from '../http/routes.js';
import type { Access } from './access.js';
import { CATALOG_ACCESS } from './access.js';

/** The access records `method` on `route` needs. */
export function wantedAccess(route: Route, method: string): Access[] {
  switch (route.kind) {
    case 'base':
    case 'health':
    case 'api-not-found':
    case 'not-found':
      return [];
    case 'catalog':
      return [CATALOG_ACCESS];
    default: {
      const repo = (action: string): Access => ({ type: 'repository', name: route.name, action });
      switch (method) {
        case 'GET':
        case 'HEAD':
          return [repo('pull')];
        case 'DELETE':
          // Cancelling one's own upload is part of pushing; distribution asks for delete here, which
          // would stop a pusher without delete rights from cleaning up after itself.
          return route.kind === 'upload' ? [repo('pull'), repo('push')] : [repo('delete')];
        default:
          return [repo('pull'), repo('push')];
      }
    }
  }
}
