/** Polling helpers for the health tests: the checks run on timers, so the tests wait for a state. */
import assert from 'node:assert/strict';

export interface Answer {
  status: number;
  body: string;
  headers: Headers;
}

export async function get(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init);
  return { status: res.status, body: await res.text(), headers: res.headers };
}

/** Polls `GET <debugUrl>/debug/health` until `accept` says yes; fails with the last answer after `timeoutMs`. */
export async function waitForReport(
  debugUrl: string,
  accept: (status: number, report: Record<string, string>) => boolean,
  timeoutMs = 5_000,
): Promise<{ status: number; report: Record<string, string> }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await get(`${debugUrl}/debug/health`);
    assert.match(answer.headers.get('content-type') ?? '', /^application\/json/);
    const report = JSON.parse(answer.body) as Record<string, string>;
    if (accept(answer.status, report)) return { status: answer.status, report };
    if (Date.now() > deadline) {
      assert.fail(`health report still ${answer.status} ${answer.body} after ${timeoutMs}ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export const healthy = (status: number, report: Record<string, string>): boolean =>
  status === 200 && Object.keys(report).length === 0;

/** Asserts registry:2's answer while a health check fails: 503 UNAVAILABLE pointing at /debug/health. */
export function assertUnavailable(answer: Answer, what: string): void {
  assert.equal(answer.status, 503, `${what}: ${answer.body}`);
  const body = JSON.parse(answer.body) as { errors: Array<{ code: string; message: string; detail: string }> };
  assert.equal(body.errors[0]?.code, 'UNAVAILABLE', what);
  assert.match(body.errors[0]?.detail ?? '', /\/debug\/health/, what);
}
