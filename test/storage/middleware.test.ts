/** `middleware.storage`: the `redirect` middleware points blob redirects at a base URL (a CDN). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createInMemoryDriver } from '../../src/storage/drivers/inmemory.js';
import { applyStorageMiddleware } from '../../src/storage/middleware.js';
import { pushBlob } from '../helpers/http.js';
import { startTestServer } from '../helpers/server.js';

const CDN = { name: 'redirect', options: { baseurl: 'https://cdn.example.com/registry/' } };

describe('storage middleware', () => {
  it('redirects blob reads to the base URL joined with the storage path', async () => {
    const server = await startTestServer({ middleware: { storage: [CDN] } });
    try {
      const digest = await pushBlob(server.url, 'team/app', 'layer bytes');
      const hex = digest.slice('sha256:'.length);
      for (const method of ['GET', 'HEAD']) {
        const res = await fetch(`${server.url}/v2/team/app/blobs/${digest}`, { method, redirect: 'manual' });
        await res.arrayBuffer();
        assert.equal(res.status, 307, method);
        assert.equal(
          res.headers.get('location'),
          `https://cdn.example.com/registry/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`,
        );
        assert.equal(res.headers.get('docker-content-digest'), digest);
      }
      // Only blobs the repository links are redirected.
      const other = await fetch(`${server.url}/v2/other/blobs/${digest}`, { redirect: 'manual' });
      await other.arrayBuffer();
      assert.equal(other.status, 404);
    } finally {
      await server.close();
    }
  });

  it('is overridden by storage.redirect.disable and skipped when disabled', async () => {
    for (const overrides of [
      { middleware: { storage: [CDN] }, storage: { redirect: { disable: true } } },
      { middleware: { storage: [{ ...CDN, disabled: true }] } },
    ]) {
      const server = await startTestServer(overrides);
      try {
        const digest = await pushBlob(server.url, 'team/app', 'layer bytes');
        const res = await fetch(`${server.url}/v2/team/app/blobs/${digest}`, { redirect: 'manual' });
        assert.equal(res.status, 200, JSON.stringify(overrides));
        assert.equal(await res.text(), 'layer bytes');
      } finally {
        await server.close();
      }
    }
  });

  it('refuses middleware it does not have and a missing or relative base URL', async () => {
    const driver = createInMemoryDriver();
    assert.throws(
      () => applyStorageMiddleware(driver, [{ name: 'cloudfront', options: {} }]),
      /cloudfront is not supported/,
    );
    assert.throws(() => applyStorageMiddleware(driver, [{ name: 'redirect' }]), /baseurl is required/);
    assert.throws(
      () => applyStorageMiddleware(driver, [{ name: 'redirect', options: { baseurl: '/cdn' } }]),
      /absolute URL/,
    );
    assert.throws(
      () => applyStorageMiddleware(driver, [{ name: 'redirect', options: { baseurl: 'ftp://cdn/' } }]),
      /http or https/,
    );
    assert.equal(applyStorageMiddleware(driver, undefined), driver);
    await assert.rejects(startTestServer({ middleware: { storage: [{ name: 'cloudfront' }] } }), /cloudfront/);
  });
});
