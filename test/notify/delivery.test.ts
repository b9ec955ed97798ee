/**
 * Delivery: an endpoint that is down gets every event, in order, once it is back; failures are
 * retried with a growing delay, then probed every `backoff` once `threshold` is reached; a
 * hanging endpoint never slows a client's request.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pushBlob, pushImage } from '../helpers/http.js';
import { startTestServer } from '../helpers/server.js';
import { sleep, startSink, until } from './sink.js';

describe('notification delivery', () => {
  test('an endpoint that is down gets every event late, in order', async () => {
    const sink = await startSink();
    const server = await startTestServer({
      notifications: { endpoints: [{ name: 'late', url: sink.url, timeout: '1s', threshold: 2, backoff: '200ms' }] },
    });
    try {
      await sink.stop();
      const digests: string[] = [];
      for (let i = 0; i < 6; i++) digests.push(await pushBlob(server.url, 'late/app', `blob ${i}`));
      await sleep(300);
      const down = server.notifications.stats()[0];
      assert.equal(down?.pending, 6);
      assert.equal(down?.successes, 0);
      assert.ok((down?.failures ?? 0) >= 2, `failures: ${down?.failures}`);
      assert.equal(down?.state, 'failing');
      assert.match(down?.lastError ?? '', /ECONNREFUSED/);

      await sink.restart();
      const events = await sink.waitForEvents(6);
      assert.deepEqual(
        events.map((e) => e.target.digest),
        digests,
      );
      await until(
        () => server.notifications.stats()[0]?.pending === 0,
        2000,
        () => 'the queue to drain',
      );
      await sleep(100);
      assert.equal(sink.events().length, 6, 'each event once');
      const up = server.notifications.stats()[0];
      assert.equal(up?.pending, 0);
      assert.equal(up?.successes, 6);
      assert.equal(up?.state, 'ok');
      assert.equal(up?.consecutiveFailures, 0);
      assert.equal(up?.lastError, undefined);
    } finally {
      await server.close();
      await sink.close();
    }
  });

  test('retries grow to backoff; after threshold failures the endpoint is failing and probed every backoff', async () => {
    const sink = await startSink();
    sink.mode = 'fail';
    const server = await startTestServer({
      notifications: { endpoints: [{ name: 'flaky', url: sink.url, timeout: '1s', threshold: 3, backoff: '700ms' }] },
    });
    try {
      const digest = await pushBlob(server.url, 'flaky/app', 'retry me');
      await sink.waitForAttempts(3);
      // 50 ms then 100 ms between the first attempts: well under backoff.
      const [a0 = 0, a1 = 0, a2 = 0] = sink.attempts;
      assert.ok(a1 - a0 < 500 && a2 - a1 < 500, `early retries: ${a1 - a0} ms, ${a2 - a1} ms`);
      await sleep(50);
      const failing = server.notifications.stats()[0];
      assert.equal(failing?.state, 'failing');
      assert.equal(failing?.consecutiveFailures, 3);
      assert.equal(failing?.lastError, 'HTTP 500');

      await sink.waitForAttempts(5);
      const [, , , a3 = 0, a4 = 0] = sink.attempts;
      assert.ok(a3 - a2 >= 650, `probe after ${a3 - a2} ms`);
      assert.ok(a4 - a3 >= 650, `probe after ${a4 - a3} ms`);
      // New events do not make the failing endpoint retry sooner.
      const before = sink.attempts.length;
      await pushBlob(server.url, 'flaky/app', 'queued behind');
      await sleep(100);
      assert.equal(sink.attempts.length, before);

      sink.mode = 'ok';
      const events = await sink.waitForEvents(2);
      assert.equal(events[0]?.target.digest, digest);
      await until(
        () => server.notifications.stats()[0]?.pending === 0,
        2000,
        () => 'the queue to drain',
      );
      const stats = server.notifications.stats()[0];
      assert.equal(stats?.state, 'ok');
      assert.equal(stats?.successes, 2);
      assert.equal(stats?.failures, stats?.statuses['500']);
      assert.ok((stats?.failures ?? 0) >= 5);
      assert.equal(stats?.statuses['200'], 2);
    } finally {
      await server.close();
      await sink.close();
    }
  });

  test('a hanging endpoint never slows client requests', async () => {
    const sink = await startSink();
    sink.mode = 'hang';
    const server = await startTestServer({
      notifications: { endpoints: [{ name: 'slow', url: sink.url, timeout: '3s', threshold: 1, backoff: '100ms' }] },
    });
    try {
      await pushBlob(server.url, 'slow/app', 'first');
      await sink.waitForAttempts(1);
      // The endpoint now holds a request open for 3 s; pushes and pulls go on at full speed.
      const started = performance.now();
      const image = await pushImage(server.url, 'slow/app', 'v1');
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${server.url}/v2/slow/app/blobs/${image.layer.digest}`);
        assert.equal(res.status, 200);
        await res.arrayBuffer();
      }
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 1500, `requests took ${elapsed} ms while the endpoint hung`);
      assert.equal(sink.attempts.length, 1, 'the endpoint was still hanging');
      assert.equal(sink.events().length, 0);

      // Once it answers again everything arrives: the hung attempt timed out and was retried.
      sink.mode = 'ok';
      const events = await sink.waitForEvents(9, 10_000);
      assert.deepEqual(
        events.map((e) => e.action),
        ['push', 'push', 'push', 'push', 'pull', 'pull', 'pull', 'pull', 'pull'],
      );
      await until(
        () => server.notifications.stats()[0]?.pending === 0,
        2000,
        () => 'the queue to drain',
      );
      const stats = server.notifications.stats()[0];
      assert.equal(stats?.lastError, undefined);
      assert.ok((stats?.failures ?? 0) >= 1);
    } finally {
      await server.close();
      await sink.close();
    }
  });
});
