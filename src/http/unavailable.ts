/**
 * The answer to every request while a health check fails, as registry:2's `health.Handler` gives
 * it (it wraps the whole application, `GET /` included, so load balancers take the instance out):
 * 503 with the error code UNAVAILABLE pointing at `/debug/health`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { settleUnreadBody } from './body.js';

const BODY = Buffer.from(
  JSON.stringify({
    errors: [
      { code: 'UNAVAILABLE', message: 'service unavailable', detail: 'health check failed: please see /debug/health' },
    ],
  }),
);

export function answerUnavailable(req: IncomingMessage, res: ServerResponse): void {
  settleUnreadBody(req, res);
  res.writeHead(503, {
    'Content-Type': 'application/json',
    'Content-Length': BODY.length,
    'Cache-Control': 'no-cache',
  });
  res.end(req.method === 'HEAD' ? undefined : BODY);
}
