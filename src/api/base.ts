/** `GET/HEAD /v2/`: tells clients this is a Distribution API v2 endpoint. */
import { type ApiContext, type MethodHandlers, type RouteOf, sendJson } from './context.js';

async function check(ctx: ApiContext): Promise<void> {
  sendJson(ctx, 200, {});
}

export const baseHandlers: MethodHandlers<RouteOf<'base'>> = { GET: check, HEAD: check };
