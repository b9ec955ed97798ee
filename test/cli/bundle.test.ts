/**
 * The bundle that `npm start` runs (dist/berth/main.mjs) with the parts it loads only on demand:
 * the Azure driver, the built-in token server and token verification (jose), htpasswd (bcryptjs),
 * the resumable upload hash (hash-wasm, used with a configured http.secret) and Prometheus metrics
 * (prom-client). Other process-level tests cover S3, Redis, ACME and the cluster through the same
 * bundle; a module the bundler resolved wrongly fails only when its code first runs.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { basic, parseChallenge, writeHtpasswd } from '../auth/support.js';
import { type Azurite, startAzurite } from '../helpers/azurite.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { digestOf, freePort } from '../helpers/tools.js';
import { type RunningCli, startCli } from './run-cli.js';

const temp = useTempDir('berth-bundle-');
const REPO = 'bundle/app';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

describe('the bundle npm start runs', () => {
  let azurite: Azurite;
  let cli: RunningCli;
  let url: string;
  let debugUrl: string;

  before(async () => {
    azurite = await startAzurite();
    const htpasswd = await temp.file('htpasswd', '');
    await writeHtpasswd(htpasswd, { alice: 'a-pw' });
    const debugPort = await freePort();
    debugUrl = `http://127.0.0.1:${debugPort}`;
    const azure = azurite.parameters(azurite.uniqueContainer('bundle'));
    const config = await temp.file(
      'config.yml',
      JSON.stringify({
        version: 0.1,
        log: { formatter: 'json', accesslog: { disabled: true } },
        storage: { azure, delete: { enabled: true } },
        auth: {
          token: {
            realm: 'https://unused.invalid/auth/token',
            autoredirect: true,
            service: 'bundle-test',
            issuer: 'bundle-test-issuer',
            server: { htpasswd: { path: htpasswd } },
          },
        },
        http: {
          addr: '127.0.0.1:0',
          workers: 1,
          secret: 'bundle-test-secret',
          debug: { addr: `127.0.0.1:${debugPort}`, prometheus: { enabled: true } },
        },
      }),
    );
    cli = startCli(['serve', config]);
    const ready = JSON.parse(await cli.waitForLine((l) => l.includes('"ready at '))) as { url: string };
    url = ready.url;
  });

  after(async () => {
    cli?.child.kill('SIGTERM');
    await cli?.finished();
    await azurite?.stop();
  });

  it('pushes in chunks and pulls over Azure with a token from the built-in server, and counts it', {
    timeout: 60_000,
  }, async () => {
    const anonymous = await fetch(`${url}/v2/`);
    await anonymous.arrayBuffer();
    assert.equal(anonymous.status, 401);
    const { scheme, params } = parseChallenge(anonymous.headers.get('www-authenticate'));
    assert.equal(scheme, 'Bearer');
    const realm = String(params['realm']);
    const scope = `repository:${REPO}:pull,push`;
    const tokenRes = await fetch(`${realm}?service=${params['service']}&scope=${encodeURIComponent(scope)}`, {
      headers: { Authorization: basic('alice', 'a-pw') },
    });
    assert.equal(tokenRes.status, 200);
    const { token } = (await tokenRes.json()) as { token: string };
    const auth = { Authorization: `Bearer ${token}` };

    // Two PATCHes: the second continues the hash state the first saved (hash-wasm).
    const layer = randomBytes(3 * 1024 * 1024 + 17);
    const layerDigest = digestOf(layer);
    const started = await fetch(`${url}/v2/${REPO}/blobs/uploads/`, { method: 'POST', headers: auth });
    await started.arrayBuffer();
    assert.equal(started.status, 202);
    let location = new URL(String(started.headers.get('location')), url).href;
    const half = 2 * 1024 * 1024;
    for (const [from, to] of [
      [0, half],
      [half, layer.length],
    ] as const) {
      const patched = await fetch(location, {
        method: 'PATCH',
        headers: { ...auth, 'Content-Type': 'application/octet-stream', 'Content-Range': `${from}-${to - 1}` },
        body: layer.subarray(from, to),
      });
      await patched.arrayBuffer();
      assert.equal(patched.status, 202);
      location = new URL(String(patched.headers.get('location')), url).href;
    }
    const separator = location.includes('?') ? '&' : '?';
    const put = await fetch(`${location}${separator}digest=${encodeURIComponent(layerDigest)}`, {
      method: 'PUT',
      headers: auth,
    });
    await put.arrayBuffer();
    assert.equal(put.status, 201);

    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const configDigest = digestOf(config);
    const monolithic = await fetch(`${url}/v2/${REPO}/blobs/uploads/?digest=${encodeURIComponent(configDigest)}`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/octet-stream' },
      body: config,
    });
    await monolithic.arrayBuffer();
    assert.equal(monolithic.status, 201);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
    });
    const tagged = await fetch(`${url}/v2/${REPO}/manifests/v1`, {
      method: 'PUT',
      headers: { ...auth, 'Content-Type': OCI_MANIFEST },
      body: manifest,
    });
    await tagged.arrayBuffer();
    assert.equal(tagged.status, 201);

    const pulled = await fetch(`${url}/v2/${REPO}/blobs/${layerDigest}`, { headers: auth });
    assert.equal(pulled.status, 200);
    assert.ok(Buffer.from(await pulled.arrayBuffer()).equals(layer));
    const manifestRes = await fetch(`${url}/v2/${REPO}/manifests/v1`, { headers: { ...auth, Accept: OCI_MANIFEST } });
    assert.equal(await manifestRes.text(), manifest);

    const metrics = await (await fetch(`${debugUrl}/metrics`)).text();
    // One PUT completed the layer's upload, one stored the manifest.
    const puts = metrics
      .split('\n')
      .filter((line) => line.startsWith('registry_http_requests_total{') && line.includes('method="put"'))
      .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
    assert.equal(puts, 2, metrics);
    assert.ok(!cli.lines.some((l) => l.includes('"level":"error"')), cli.lines.join('\n'));
  });
});
