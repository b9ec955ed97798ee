/**
 * Push, pull, mount and delete over real HTTP produce registry:2 events, in order, with the
 * envelope, target, request, actor and source fields a registry:2 receiver expects; ignore
 * rules and disabled endpoints filter them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EVENTS_MEDIA_TYPE, type Event } from '../../src/notify/event.js';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, pushBlob, pushImage } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { type Sink, sleep, startSink } from './sink.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const OCTET = 'application/octet-stream';

function endpoint(name: string, sink: Sink, extra: object = {}): object {
  return { name, url: sink.url, timeout: '2s', threshold: 3, backoff: '100ms', ...extra };
}

describe('notification events', () => {
  let sink: Sink;
  let server: TestServer;

  before(async () => {
    sink = await startSink();
    server = await startTestServer({
      storage: { delete: { enabled: true } },
      notifications: {
        endpoints: [
          endpoint('main', sink, { headers: { Authorization: ['Bearer hook-secret'], 'X-Multi': ['a', 'b'] } }),
        ],
      },
    });
  });

  after(async () => {
    await server.close();
    await sink.close();
  });

  test('a push, pull, mount and delete sequence, in order and complete', async () => {
    const base = server.url;
    const host = new URL(base).host;
    const image = await pushImage(base, 'notify/app', 'v1');
    const ua = { 'User-Agent': 'berth-test/1.0' };

    // HEAD transfers nothing: no pull event.
    const head = await fetch(`${base}/v2/notify/app/manifests/v1`, {
      method: 'HEAD',
      headers: { Accept: OCI_MANIFEST },
    });
    assert.equal(head.status, 200);
    const pull = await fetch(`${base}/v2/notify/app/manifests/v1`, { headers: { ...ua, Accept: OCI_MANIFEST } });
    assert.equal(pull.status, 200);
    await pull.arrayBuffer();
    const blob = await fetch(`${base}/v2/notify/app/blobs/${image.layer.digest}`, { headers: ua });
    assert.deepEqual(Buffer.from(await blob.arrayBuffer()), image.layerBytes);
    const mount = await fetch(`${base}/v2/notify/other/blobs/uploads/?mount=${image.layer.digest}&from=notify/app`, {
      method: 'POST',
      headers: ua,
    });
    await mount.arrayBuffer();
    assert.equal(mount.status, 201);
    for (const path of [
      'notify/app/manifests/v1',
      `notify/app/manifests/${image.manifestDigest}`,
      `notify/other/blobs/${image.layer.digest}`,
    ]) {
      const res = await fetch(`${base}/v2/${path}`, { method: 'DELETE', headers: ua });
      await res.arrayBuffer();
      assert.equal(res.status, 202, path);
    }

    const events = await sink.waitForEvents(9);
    assert.deepEqual(
      events.map((e) => [e.action, e.target.repository, e.target.digest, e.target.tag]),
      [
        ['push', 'notify/app', image.config.digest, undefined],
        ['push', 'notify/app', image.layer.digest, undefined],
        ['push', 'notify/app', image.manifestDigest, 'v1'],
        ['pull', 'notify/app', image.manifestDigest, 'v1'],
        ['pull', 'notify/app', image.layer.digest, undefined],
        ['mount', 'notify/other', image.layer.digest, undefined],
        ['delete', 'notify/app', '', 'v1'],
        ['delete', 'notify/app', image.manifestDigest, undefined],
        ['delete', 'notify/other', image.layer.digest, undefined],
      ],
    );
    const [configPush, layerPush, manifestPush, manifestPull, blobPull, mounted, tagDelete, manifestDelete] =
      events as [Event, Event, Event, Event, Event, Event, Event, Event];

    // Targets, as registry:2 fills them.
    assert.deepEqual(configPush.target, {
      mediaType: OCTET,
      digest: image.config.digest,
      size: image.config.size,
      length: image.config.size,
      repository: 'notify/app',
      url: `${base}/v2/notify/app/blobs/${image.config.digest}`,
    });
    assert.equal(layerPush.target.size, image.layerBytes.length);
    assert.deepEqual(manifestPush.target, {
      mediaType: OCI_MANIFEST,
      digest: image.manifestDigest,
      size: image.manifestBytes.length,
      length: image.manifestBytes.length,
      repository: 'notify/app',
      url: `${base}/v2/notify/app/manifests/${image.manifestDigest}`,
      tag: 'v1',
    });
    assert.deepEqual(manifestPull.target, { ...manifestPush.target });
    assert.equal(blobPull.target.mediaType, OCTET);
    assert.equal(blobPull.target.size, image.layerBytes.length);
    assert.equal(mounted.target.fromRepository, 'notify/app');
    assert.equal(mounted.target.url, `${base}/v2/notify/other/blobs/${image.layer.digest}`);
    assert.equal(mounted.target.size, image.layerBytes.length);
    assert.deepEqual(tagDelete.target, { mediaType: '', digest: '', size: 0, repository: 'notify/app', tag: 'v1' });
    assert.deepEqual(manifestDelete.target, {
      mediaType: '',
      digest: image.manifestDigest,
      size: 0,
      repository: 'notify/app',
    });

    // Request, actor and source records.
    const ids = new Set<string>();
    for (const event of events) {
      assert.match(event.id, UUID);
      assert.ok(!Number.isNaN(Date.parse(event.timestamp)), event.timestamp);
      assert.match(event.request.id, UUID);
      ids.add(event.request.id);
      assert.match(event.request.addr ?? '', /^127\.0\.0\.1:\d+$/);
      assert.equal(event.request.host, host);
      assert.deepEqual(event.actor, {});
      assert.match(event.source.addr ?? '', /.+:0$/);
      assert.match(event.source.instanceID ?? '', UUID);
      assert.equal(event.source.instanceID, events[0]?.source.instanceID);
    }
    assert.equal(new Set(events.map((e) => e.id)).size, events.length);
    assert.equal(ids.size, events.length, 'one request each');
    assert.deepEqual(
      events.map((e) => e.request.method),
      ['POST', 'POST', 'PUT', 'GET', 'GET', 'POST', 'DELETE', 'DELETE', 'DELETE'],
    );
    assert.equal(manifestPull.request.useragent, 'berth-test/1.0');
    assert.equal(mounted.request.useragent, 'berth-test/1.0');
    assert.ok(inTimeOrder(events), 'timestamps do not go backwards');

    // One event per envelope, with the envelope media type and the configured headers.
    for (const { headers, envelope } of sink.received) {
      assert.equal(headers['content-type'], EVENTS_MEDIA_TYPE);
      assert.equal(headers.authorization, 'Bearer hook-secret');
      assert.equal(headers['x-multi'], 'a, b');
      assert.equal(envelope.events.length, 1);
    }

    // Nothing else arrives (the HEAD request emitted nothing).
    await sleep(200);
    assert.equal(sink.events().length, 9);
    const [stats] = server.notifications.stats();
    assert.equal(stats?.name, 'main');
    assert.equal(stats?.state, 'ok');
    assert.equal(stats?.successes, 9);
    assert.equal(stats?.events, 9);
    assert.equal(stats?.pending, 0);
    assert.equal(stats?.failures, 0);
  });
});

function inTimeOrder(events: Event[]): boolean {
  return events.every((e, i) => i === 0 || Date.parse(e.timestamp) >= Date.parse(events[i - 1]?.timestamp ?? ''));
}

describe('notification filters', () => {
  test('request.addr is the forwarded client only behind a trusted proxy', async () => {
    const forwardedSink = await startSink();
    const trusting = await startTestServer({
      http: { trustedproxies: ['127.0.0.1'] },
      notifications: { endpoints: [endpoint('forwarded', forwardedSink)] },
    });
    const untrustedSink = await startSink();
    const untrusting = await startTestServer({ notifications: { endpoints: [endpoint('plain', untrustedSink)] } });
    try {
      const headers = { 'X-Forwarded-For': '198.51.100.7, 203.0.113.9' };
      await pushBlob(trusting.url, 'addr/app', 'forwarded', headers);
      await pushBlob(trusting.url, 'addr/app', 'direct');
      const [forwarded, direct] = await forwardedSink.waitForEvents(2);
      // The nearest untrusted hop is the client; without the header, the socket's peer.
      assert.equal(forwarded?.request.addr, '203.0.113.9');
      assert.match(direct?.request.addr ?? '', /^127\.0\.0\.1:\d+$/);
      // Without trusted proxies the header is not believed.
      await pushBlob(untrusting.url, 'addr/app', 'untrusted', headers);
      const [untrusted] = await untrustedSink.waitForEvents(1);
      assert.match(untrusted?.request.addr ?? '', /^127\.0\.0\.1:\d+$/);
    } finally {
      await Promise.all([trusting.close(), untrusting.close()]);
      await Promise.all([forwardedSink.close(), untrustedSink.close()]);
    }
  });

  test('ignoredmediatypes, ignore.mediatypes, ignore.actions, includereferences and disabled endpoints', async () => {
    const [noManifests, noPullsNoBlobs, disabled] = await Promise.all([startSink(), startSink(), startSink()]);
    const server = await startTestServer({
      notifications: {
        events: { includereferences: true },
        endpoints: [
          endpoint('no-manifests', noManifests, { ignoredmediatypes: [OCI_MANIFEST] }),
          endpoint('no-pulls-no-blobs', noPullsNoBlobs, { ignore: { mediatypes: [OCTET], actions: ['pull'] } }),
          endpoint('off', disabled, { disabled: true }),
        ],
      },
    });
    try {
      const image = await pushImage(server.url, 'filters/app', 'latest');
      const pull = await fetch(`${server.url}/v2/filters/app/manifests/latest`, { headers: { Accept: OCI_MANIFEST } });
      await pull.arrayBuffer();
      const extra = await pushBlob(server.url, 'filters/app', 'one more blob');

      const blobsOnly = await noManifests.waitForEvents(3);
      assert.deepEqual(
        blobsOnly.map((e) => [e.action, e.target.digest]),
        [
          ['push', image.config.digest],
          ['push', image.layer.digest],
          ['push', extra],
        ],
      );
      const [manifestPush] = await noPullsNoBlobs.waitForEvents(1);
      assert.equal(manifestPush?.action, 'push');
      assert.equal(manifestPush?.target.mediaType, OCI_MANIFEST);
      assert.deepEqual(manifestPush?.target.references, [
        { mediaType: OCI_CONFIG, digest: image.config.digest, size: image.config.size },
        { mediaType: OCI_LAYER, digest: image.layer.digest, size: image.layer.size },
      ]);
      await sleep(200);
      assert.equal(noManifests.events().length, 3);
      assert.equal(noPullsNoBlobs.events().length, 1);
      assert.equal(disabled.attempts.length, 0);
      assert.deepEqual(
        server.notifications.stats().map((s) => [s.name, s.events, s.successes]),
        [
          ['no-manifests', 3, 3],
          ['no-pulls-no-blobs', 1, 1],
        ],
      );
    } finally {
      await server.close();
      await Promise.all([noManifests.close(), noPullsNoBlobs.close(), disabled.close()]);
    }
  });

  test('an endpoint with a url that is not http(s) stops start-up with a message naming it', async () => {
    await assert.rejects(
      startTestServer({ notifications: { endpoints: [{ name: 'bad', url: 'ftp://example.com/' }] } }),
      /notifications\.endpoints\[0\] \("bad"\): url must be http or https/,
    );
  });
});
