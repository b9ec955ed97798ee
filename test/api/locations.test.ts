import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { rawRequest, sha256 } from '../helpers/http.js';
import { startTestServer } from '../helpers/server.js';

/** POSTs an upload and a monolithic blob with the given headers, returning both Locations. */
async function locations(url: string, name: string, headers: Record<string, string>) {
  const session = await rawRequest(`${url}/v2/${name}/blobs/uploads/`, { method: 'POST', headers });
  assert.equal(session.status, 202);
  const digest = sha256(`location-${name}`);
  const blob = await rawRequest(`${url}/v2/${name}/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    headers,
    body: Buffer.from(`location-${name}`),
  });
  assert.equal(blob.status, 201);
  // The signed upload state is the same whatever the URL's origin; only the rest is compared here.
  const upload = session.headers['location'] ?? '';
  assert.match(upload, /\?_state=[A-Za-z0-9_%-]+$/);
  return {
    upload: upload.replace(/\?_state=[^&]*$/, ''),
    uuid: session.headers['docker-upload-uuid'] ?? '',
    blob: blob.headers['location'] ?? '',
    digest,
  };
}

describe('Location URLs', () => {
  test('absolute from the Host header by default', async () => {
    const server = await startTestServer();
    try {
      const got = await locations(server.url, 'loc/host', { Host: 'registry.example:5000' });
      assert.equal(got.upload, `http://registry.example:5000/v2/loc/host/blobs/uploads/${got.uuid}`);
      assert.equal(got.blob, `http://registry.example:5000/v2/loc/host/blobs/${got.digest}`);
    } finally {
      await server.close();
    }
  });

  test('X-Forwarded-Proto and X-Forwarded-Host (first values) win over Host', async () => {
    const server = await startTestServer();
    try {
      const got = await locations(server.url, 'loc/fwd', {
        Host: 'internal:5000',
        'X-Forwarded-Proto': 'https, http',
        'X-Forwarded-Host': 'proxy.example, internal',
      });
      assert.equal(got.upload, `https://proxy.example/v2/loc/fwd/blobs/uploads/${got.uuid}`);
      assert.equal(got.blob, `https://proxy.example/v2/loc/fwd/blobs/${got.digest}`);
      const protoOnly = await locations(server.url, 'loc/proto', { Host: 'edge:8443', 'X-Forwarded-Proto': 'https' });
      assert.equal(protoOnly.blob, `https://edge:8443/v2/loc/proto/blobs/${protoOnly.digest}`);
    } finally {
      await server.close();
    }
  });

  test('http.host is used whatever the request says', async () => {
    const server = await startTestServer({ http: { host: 'https://public.example:8443/ignored/path' } });
    try {
      const got = await locations(server.url, 'loc/conf', { Host: 'internal', 'X-Forwarded-Host': 'proxy.example' });
      assert.equal(got.upload, `https://public.example:8443/v2/loc/conf/blobs/uploads/${got.uuid}`);
      assert.equal(got.blob, `https://public.example:8443/v2/loc/conf/blobs/${got.digest}`);
    } finally {
      await server.close();
    }
  });

  test('http.relativeurls answers paths', async () => {
    const server = await startTestServer({ http: { relativeurls: true, host: 'https://public.example' } });
    try {
      const got = await locations(server.url, 'loc/rel', { 'X-Forwarded-Host': 'proxy.example' });
      assert.equal(got.upload, `/v2/loc/rel/blobs/uploads/${got.uuid}`);
      assert.equal(got.blob, `/v2/loc/rel/blobs/${got.digest}`);
      const manifest = await fetch(`${server.url}/v2/loc/rel/manifests/latest`, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
        body: JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: got.digest, size: 16 },
          layers: [],
        }),
      });
      assert.equal(manifest.status, 201, await manifest.text());
      assert.match(manifest.headers.get('location') ?? '', /^\/v2\/loc\/rel\/manifests\/sha256:[0-9a-f]{64}$/);
    } finally {
      await server.close();
    }
  });
});

describe('http.prefix', () => {
  test('serves the API under the prefix and builds URLs with it', async () => {
    const server = await startTestServer({ http: { prefix: '/registry/' } });
    try {
      const base = await fetch(`${server.url}/registry/v2/`);
      assert.equal(base.status, 200);
      assert.equal(base.headers.get('docker-distribution-api-version'), 'registry/2.0');
      const outside = await fetch(`${server.url}/v2/`);
      assert.equal(outside.status, 404);
      await outside.arrayBuffer();
      assert.equal((await fetch(`${server.url}/`)).status, 200);

      const got = await locations(`${server.url}/registry`, 'loc/prefix', { Host: 'h.example' });
      assert.equal(got.upload, `http://h.example/registry/v2/loc/prefix/blobs/uploads/${got.uuid}`);
      assert.equal(got.blob, `http://h.example/registry/v2/loc/prefix/blobs/${got.digest}`);
      const res = await fetch(`${server.url}${new URL(got.blob).pathname}`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'location-loc/prefix');
    } finally {
      await server.close();
    }
  });
});
