/** `storage.cache.blobdescriptor` and `redis` as the server reads them from the configuration. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { pushImage } from '../helpers/http.js';
import { startTestServer } from '../helpers/server.js';
import { freePort } from '../helpers/tools.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

describe('server with the Redis descriptor cache', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedisServer();
  });
  after(() => redis.stop());

  test('pushes and pulls with blob descriptors shared in Redis', async () => {
    const server = await startTestServer({
      storage: { cache: { blobdescriptor: 'redis' } },
      redis: { addr: redis.addr, db: 2 },
    });
    const raw = new Redis({ host: '127.0.0.1', port: redis.port, db: 2 });
    try {
      const image = await pushImage(server.url, 'cached/app', 'v1');
      for (let i = 0; i < 2; i++) {
        const head = await fetch(`${server.url}/v2/cached/app/blobs/${image.layer.digest}`, { method: 'HEAD' });
        assert.equal(head.status, 200);
        assert.equal(head.headers.get('content-length'), String(image.layer.size));
      }
      const manifest = await fetch(`${server.url}/v2/cached/app/manifests/${image.manifestDigest}`, {
        headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      assert.deepEqual(Buffer.from(await manifest.arrayBuffer()), image.manifestBytes);
      assert.equal(await raw.hget(`blobs::${image.layer.digest}`, 'size'), String(image.layer.size));
      assert.equal(await raw.sismember('repository::cached/app::blobs', image.layer.digest), 1);
    } finally {
      raw.disconnect();
      await server.close();
    }
  });

  test('serves from storage when Redis cannot be reached at all', async () => {
    const server = await startTestServer({
      storage: { cache: { blobdescriptor: 'redis' } },
      redis: { addr: `127.0.0.1:${await freePort()}`, dialtimeout: '200ms' },
    });
    try {
      const image = await pushImage(server.url, 'nocache/app', 'v1');
      const blob = await fetch(`${server.url}/v2/nocache/app/blobs/${image.layer.digest}`);
      assert.deepEqual(Buffer.from(await blob.arrayBuffer()), image.layerBytes);
    } finally {
      await server.close();
    }
  });

  test('refuses to start with redis named but not configured, or an unknown cache', async () => {
    await assert.rejects(
      startTestServer({ storage: { cache: { blobdescriptor: 'redis' } } }),
      /redis\.addr is not set/,
    );
    await assert.rejects(
      startTestServer({ storage: { cache: { blobdescriptor: 'memcached' } } }),
      /unknown cache "memcached"/,
    );
  });
});
