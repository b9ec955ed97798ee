/**
 * `http.debug.prometheus`: the debug listener's exposition, parsed with a Prometheus text parser,
 * counts the real requests made to the registry (by handler, method and status), their bytes and
 * latency, the storage calls they caused, descriptor-cache hits, uploads in flight, notification
 * deliveries, and carries the process metrics.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { pushBlob, pushImage, startUpload } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { startSink } from '../notify/sink.js';
import { scrape } from './scrape.js';

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 30));

const DEBUG = { http: { debug: { addr: '127.0.0.1:0', prometheus: { enabled: true } } } };

describe('Prometheus metrics', () => {
  let server: TestServer;
  let metricsUrl: string;
  before(async () => {
    server = await startTestServer(DEBUG);
    assert.ok(server.debugUrl, 'the debug listener is up');
    metricsUrl = `${server.debugUrl}/metrics`;
  });
  after(() => server.close());

  test('counts requests, bytes, latency, storage calls and cache hits', async () => {
    const blob = randomBytes(100 * 1024);
    const digest = await pushBlob(server.url, 'metrics/app', blob);
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${server.url}/v2/metrics/app/blobs/${digest}`);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), blob);
    }
    const head = await fetch(`${server.url}/v2/metrics/app/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    const missing = await fetch(`${server.url}/v2/metrics/app/manifests/latest`);
    await missing.arrayBuffer();
    assert.equal(missing.status, 404);
    await settle();

    const m = await scrape(metricsUrl);
    assert.equal(m.type('registry_http_requests_total'), 'counter');
    assert.equal(m.type('registry_http_request_duration_seconds'), 'histogram');
    assert.equal(m.value('registry_http_requests_total', { handler: 'blob-upload', method: 'post', code: '201' }), 1);
    assert.equal(m.value('registry_http_requests_total', { handler: 'blob', method: 'get', code: '200' }), 2);
    assert.equal(m.value('registry_http_requests_total', { handler: 'blob', method: 'head', code: '200' }), 1);
    assert.equal(m.value('registry_http_requests_total', { handler: 'manifest', method: 'get', code: '404' }), 1);
    assert.equal(m.histogram('registry_http_request_duration_seconds', { handler: 'blob', method: 'get' }).count, 2);

    const received = m.histogram('registry_http_request_size_bytes', { handler: 'blob-upload' });
    assert.equal(received.count, 1);
    assert.ok(received.sum >= blob.length, `bytes in ${received.sum} cover the ${blob.length}-byte upload`);
    const sent = m.histogram('registry_http_response_size_bytes', { handler: 'blob' });
    assert.ok(sent.sum >= 2 * blob.length, `bytes out ${sent.sum} cover two downloads`);
    assert.ok(sent.sum < 2 * blob.length + 4096, 'and not much more than that');

    assert.equal(m.value('registry_http_in_flight_requests'), 0);
    assert.equal(m.value('registry_uploads_in_flight'), 0);

    const storage = { driver: 'filesystem' };
    assert.ok(m.histogram('registry_storage_action_seconds', { ...storage, action: 'reader' }).count >= 2);
    assert.ok(m.histogram('registry_storage_action_seconds', { ...storage, action: 'writer.write' }).count >= 1);
    assert.ok(m.histogram('registry_storage_action_seconds', { ...storage, action: 'writer.commit' }).count >= 1);
    assert.ok(m.value('registry_storage_errors_total', { ...storage, error: 'not_found' }) >= 1, 'the missing tag');
    assert.equal(m.value('registry_storage_errors_total', { ...storage, error: 'other' }), 0);

    const cache = { cache: 'blobdescriptor' };
    const hits = m.value('registry_storage_cache_hits_total', cache);
    const misses = m.value('registry_storage_cache_misses_total', cache);
    assert.ok(hits >= 1, 'the blob pushed a moment ago is known to the descriptor cache');
    assert.equal(m.value('registry_storage_cache_requests_total', cache), hits + misses);

    assert.ok(m.has('process_cpu_user_seconds_total'), 'process metrics');
    assert.ok(m.has('nodejs_heap_size_used_bytes'), 'process metrics');
  });

  test('the debug listener is not counted, and counters only grow', async () => {
    const first = await scrape(metricsUrl);
    await (await fetch(`${server.url}/v2/`)).arrayBuffer();
    await settle();
    const second = await scrape(metricsUrl);
    const base = { handler: 'base', method: 'get', code: '200' };
    assert.equal(
      second.value('registry_http_requests_total', base),
      first.value('registry_http_requests_total', base) + 1,
    );
    assert.equal(second.samples('registry_http_requests_total', { handler: 'not-found' }).length, 0);
  });

  test('an upload whose body is still arriving is in flight', async () => {
    const location = await startUpload(server.url, 'metrics/streaming');
    const { hostname, port, pathname, search } = new URL(location);
    let release = (): void => {};
    const uploading = new Promise<void>((resolve) => {
      release = resolve;
    });
    const response = new Promise<number>((resolve, reject) => {
      const req = request(
        {
          hostname,
          port,
          path: `${pathname}${search}`,
          method: 'PATCH',
          headers: { 'Content-Type': 'application/octet-stream' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.write(randomBytes(4096));
      // The rest of the body comes once the test has seen the upload in flight.
      uploading.then(() => req.end(randomBytes(4096)), reject);
    });
    let during = await scrape(metricsUrl);
    for (let i = 0; i < 100 && during.value('registry_uploads_in_flight') === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      during = await scrape(metricsUrl);
    }
    assert.equal(during.value('registry_uploads_in_flight'), 1);
    assert.equal(during.value('registry_http_in_flight_requests', { handler: 'blob-upload-chunk' }), 1);
    release();
    assert.equal(await response, 202);
    await settle();
    const afterwards = await scrape(metricsUrl);
    assert.equal(afterwards.value('registry_uploads_in_flight'), 0);
    assert.equal(afterwards.value('registry_http_in_flight_requests', { handler: 'blob-upload-chunk' }), 0);
    const chunk = afterwards.histogram('registry_http_request_size_bytes', { handler: 'blob-upload-chunk' });
    assert.ok(chunk.sum >= 8192, `the chunk's bytes are counted (${chunk.sum})`);
  });
});

describe('http.debug settings', () => {
  test('http.debug.prometheus.path moves the metrics', async () => {
    const server = await startTestServer({
      http: { debug: { addr: '127.0.0.1:0', prometheus: { enabled: true, path: '/internal/prom' } } },
    });
    try {
      const moved = await scrape(`${server.debugUrl}/internal/prom`);
      assert.ok(moved.has('registry_http_requests_total'));
      const old = await fetch(`${server.debugUrl}/metrics`);
      await old.arrayBuffer();
      assert.equal(old.status, 404);
    } finally {
      await server.close();
    }
  });

  test('without prometheus.enabled the debug listener serves health only', async () => {
    const server = await startTestServer({ http: { debug: { addr: '127.0.0.1:0' } } });
    try {
      const metrics = await fetch(`${server.debugUrl}/metrics`);
      await metrics.arrayBuffer();
      assert.equal(metrics.status, 404);
      const health = await fetch(`${server.debugUrl}/debug/health`);
      assert.equal(health.status, 200);
      assert.equal(await health.text(), '{}');
    } finally {
      await server.close();
    }
  });

  test('an address already in use stops the start', async () => {
    const first = await startTestServer({ http: { debug: { addr: '127.0.0.1:0' } } });
    try {
      const port = new URL(first.debugUrl ?? '').port;
      await assert.rejects(startTestServer({ http: { debug: { addr: `127.0.0.1:${port}` } } }), /EADDRINUSE/);
    } finally {
      await first.close();
    }
  });
});

describe('notification metrics', () => {
  test('endpoint counters and the queue are exposed per endpoint', async () => {
    const sink = await startSink();
    const server = await startTestServer({
      ...DEBUG,
      notifications: { endpoints: [{ name: 'hook', url: sink.url, timeout: '2s', threshold: 3, backoff: '100ms' }] },
    });
    try {
      await pushImage(server.url, 'metrics/notified', 'v1');
      const events = await sink.waitForEvents(3);
      let m = await scrape(`${server.debugUrl}/metrics`);
      for (let i = 0; i < 100 && m.value('registry_notifications_pending', { endpoint: 'hook' }) > 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        m = await scrape(`${server.debugUrl}/metrics`);
      }
      const labels = { endpoint: 'hook' };
      assert.ok(m.value('registry_notifications_events_total', { ...labels, type: 'Events' }) >= events.length);
      assert.ok(m.value('registry_notifications_events_total', { ...labels, type: 'Successes' }) >= events.length);
      assert.equal(m.value('registry_notifications_events_total', { ...labels, type: 'Failures' }), 0);
      assert.ok(m.value('registry_notifications_status_total', { ...labels, code: '200 OK' }) >= 1);
      assert.equal(m.value('registry_notifications_pending', labels), 0);
      assert.equal(m.samples('registry_notifications_pending', labels).length, 1);
      assert.equal(m.value('registry_notifications_endpoint_failing', labels), 0);
    } finally {
      await server.close();
      await sink.close();
    }
  });
});
