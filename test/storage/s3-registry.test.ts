/**
 * The registry over the s3 driver, end to end against a real S3 server (a throwaway Ceph RADOS
 * Gateway): chunked pushes through the HTTP API whose commit sends no data again (counted on the
 * wire), distribution's key layout, blob GETs redirected to presigned URLs (and served directly
 * with `storage.redirect.disable`), and a bucket shared with registry:2 in both directions.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { validateConfig } from '../../src/config/load.js';
import { type RunningServer, startServer } from '../../src/http/server.js';
import { type CountingProxy, startCountingProxy, useCephRgw } from '../helpers/ceph-rgw.js';
import {
  OCI_CONFIG,
  OCI_LAYER,
  OCI_MANIFEST,
  pushDescriptor,
  pushManifest,
  sha256,
  startUpload,
  withDigest,
} from '../helpers/http.js';
import { createOciLayout, readDirCopy, smallLayers } from '../helpers/images.js';
import { freePort, inspectRaw, skopeo, waitForRegistry } from '../helpers/tools.js';

const MIB = 1024 * 1024;
/** Headers and XML of the handful of small S3 calls a commit makes (stat, copy, link, cleanup). */
const COMMIT_BYTES = 256 * 1024;

let proxy: CountingProxy;
const rgw = useCephRgw(async (gateway) => {
  proxy = await startCountingProxy(gateway.endpoint);
});

after(async () => {
  await proxy?.close();
});

/** Berth on `bucket` under `rootdirectory`, reaching the store through the counting proxy. */
async function startBerth(bucket: string, rootdirectory: string, redirect = true): Promise<RunningServer> {
  const s3 = { ...rgw().parameters(bucket, rootdirectory), regionendpoint: proxy.endpoint, chunksize: 5 * MIB };
  const config = validateConfig({
    version: '0.1',
    log: { level: 'error', accesslog: { disabled: true } },
    storage: { s3, delete: { enabled: true }, redirect: { disable: !redirect } },
    http: { addr: '127.0.0.1:0' },
  });
  return startServer(config, { logger: pino({ level: 'silent' }) });
}

/** PATCHes `chunks` one request each, then PUTs the digest; returns bytes sent to S3 by the PUT alone. */
async function pushChunked(
  base: string,
  name: string,
  chunks: Buffer[],
): Promise<{ digest: string; commitSent: number }> {
  const digest = sha256(Buffer.concat(chunks));
  let location = await startUpload(base, name);
  let offset = 0;
  for (const chunk of chunks) {
    const res = await fetch(location, {
      method: 'PATCH',
      headers: {
        'Content-Type': 'application/octet-stream',
        'Content-Range': `${offset}-${offset + chunk.length - 1}`,
        'Content-Length': String(chunk.length),
      },
      body: chunk,
    });
    const text = await res.text();
    assert.equal(res.status, 202, text);
    offset += chunk.length;
    assert.equal(res.headers.get('range'), `0-${offset - 1}`);
    location = new URL(res.headers.get('location') ?? '', base).toString();
  }
  const before = proxy.sent;
  const res = await fetch(withDigest(location, digest), { method: 'PUT' });
  const text = await res.text();
  assert.equal(res.status, 201, text);
  return { digest, commitSent: proxy.sent - before };
}

describe('registry over the s3 driver', () => {
  it('pushes a blob in chunks as multipart uploads and commits it without sending it again', async () => {
    const bucket = await rgw().createBucket('push');
    const berth = await startBerth(bucket, '/registry');
    try {
      const chunks = [randomBytes(4 * MIB), randomBytes(4 * MIB), randomBytes(4 * MIB)];
      const total = 12 * MIB;
      const start = proxy.sent;
      const { digest, commitSent } = await pushChunked(berth.url, 'team/app', chunks);
      assert.ok(commitSent < COMMIT_BYTES, `the commit sent ${commitSent} bytes to S3`);
      // Each PATCH sends its own bytes; only the first chunk, under S3's 5 MiB part minimum, goes twice.
      const pushSent = proxy.sent - start;
      assert.ok(pushSent < total + 4 * MIB + COMMIT_BYTES, `the push sent ${pushSent} bytes for ${total}`);

      const hex = digest.slice('sha256:'.length);
      const keys = await rgw().listKeys(bucket, 'registry/');
      assert.ok(
        keys.includes(`registry/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`),
        keys.join('\n'),
      );
      assert.ok(keys.includes(`registry/docker/registry/v2/repositories/team/app/_layers/sha256/${hex}/link`));
      assert.deepEqual(
        keys.filter((key) => key.includes('/_uploads/')),
        [],
        'no upload session left behind',
      );

      const head = await fetch(`${berth.url}/v2/team/app/blobs/${digest}`, { method: 'HEAD', redirect: 'manual' });
      assert.equal(head.status, 307);
      const pulled = await fetch(`${berth.url}/v2/team/app/blobs/${digest}`);
      assert.equal(pulled.status, 200);
      assert.equal(sha256(Buffer.from(await pulled.arrayBuffer())), digest);
    } finally {
      await berth.close();
    }
  });

  it('redirects blob reads to presigned URLs, and serves them itself with redirect.disable', async () => {
    const bucket = await rgw().createBucket('redirect');
    const redirecting = await startBerth(bucket, '/r');
    const direct = await startBerth(bucket, '/r', false);
    try {
      const layerBytes = randomBytes(3 * MIB);
      const config = await pushDescriptor(redirecting.url, 'img', JSON.stringify({ os: 'linux' }), OCI_CONFIG);
      const layer = await pushDescriptor(redirecting.url, 'img', layerBytes, OCI_LAYER);
      const manifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] };
      const pushed = await pushManifest(redirecting.url, 'img', 'v1', manifest, OCI_MANIFEST);
      const blobURL = (base: string): string => `${base}/v2/img/blobs/${layer.digest}`;

      const get = await fetch(blobURL(redirecting.url), { redirect: 'manual' });
      await get.arrayBuffer();
      assert.equal(get.status, 307);
      assert.equal(get.headers.get('docker-content-digest'), layer.digest);
      const location = new URL(get.headers.get('location') ?? '');
      assert.equal(location.origin, proxy.endpoint, 'the object store, not the registry');
      assert.match(location.pathname, new RegExp(`/${bucket}/r/docker/registry/v2/blobs/sha256/`));
      assert.ok(location.searchParams.has('X-Amz-Signature'));
      const fromStore = await fetch(location);
      assert.equal(fromStore.status, 200);
      assert.equal(sha256(Buffer.from(await fromStore.arrayBuffer())), layer.digest);

      const head = await fetch(blobURL(redirecting.url), { method: 'HEAD', redirect: 'manual' });
      assert.equal(head.status, 307);
      const storeHead = await fetch(head.headers.get('location') ?? '', { method: 'HEAD' });
      assert.equal(storeHead.status, 200);
      assert.equal(storeHead.headers.get('content-length'), String(layerBytes.length));

      // Manifests are never redirected.
      const manifestGet = await fetch(`${redirecting.url}/v2/img/manifests/v1`, {
        headers: { Accept: OCI_MANIFEST },
        redirect: 'manual',
      });
      assert.equal(manifestGet.status, 200);
      assert.equal(sha256(Buffer.from(await manifestGet.arrayBuffer())), pushed.digest);

      const served = await fetch(blobURL(direct.url), { redirect: 'manual' });
      assert.equal(served.status, 200);
      assert.equal(served.headers.get('location'), null);
      assert.equal(sha256(Buffer.from(await served.arrayBuffer())), layer.digest);
      const ranged = await fetch(blobURL(direct.url), { headers: { Range: 'bytes=10-19' } });
      assert.equal(ranged.status, 206);
      assert.deepEqual(Buffer.from(await ranged.arrayBuffer()), layerBytes.subarray(10, 20));
    } finally {
      await redirecting.close();
      await direct.close();
    }
  });
});

/** Debian's docker-registry (distribution 2.8, what registry:2 runs) on the same bucket and root. */
async function startDistribution(
  bucket: string,
  rootdirectory: string,
): Promise<{ host: string; stop(): Promise<void> }> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'berth-distribution-s3-'));
  const configPath = join(dir, 'config.yml');
  await writeFile(
    configPath,
    [
      'version: 0.1',
      'log:',
      '  level: info',
      'storage:',
      '  s3:',
      `    region: us-east-1`,
      `    regionendpoint: ${rgw().endpoint}`,
      `    bucket: ${bucket}`,
      `    rootdirectory: ${rootdirectory}`,
      `    accesskey: ${rgw().accessKey}`,
      `    secretkey: ${rgw().secretKey}`,
      '    secure: false',
      '    chunksize: 5242880',
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const logged: Buffer[] = [];
  const child = spawn('docker-registry', ['serve', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // Neither a stray REGISTRY_* variable nor the machine's AWS_* settings (a CA bundle…) may change the test.
    env: Object.fromEntries(
      Object.entries(process.env).filter(([key]) => !key.startsWith('REGISTRY_') && !key.startsWith('AWS_')),
    ),
  });
  child.stdout.on('data', (chunk: Buffer) => logged.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => logged.push(chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForRegistry(`http://127.0.0.1:${port}`, 20_000, () => child.exitCode === null);
  } catch (error) {
    await stop();
    throw new Error(`docker-registry did not start: ${String(error)}\n${Buffer.concat(logged).toString()}`);
  }
  return { host: `127.0.0.1:${port}`, stop };
}

describe('a bucket shared with registry:2 (docker-registry on s3)', () => {
  it('serves what registry:2 pushed, and registry:2 serves what Berth pushed', { timeout: 240_000 }, async () => {
    const bucket = await rgw().createBucket('compat');
    const work = await mkdtemp(join(tmpdir(), 'berth-s3-compat-'));
    const distribution = await startDistribution(bucket, '/shared');
    const berth = await startBerth(bucket, '/shared');
    const berthHost = new URL(berth.url).host;
    try {
      const layout = await createOciLayout(join(work, 'layout'));
      await layout.addImage({ tag: 'one', layers: smallLayers('one') });
      await layout.addImage({ tag: 'two', layers: smallLayers('two') });

      await skopeo('copy', [layout.ref('one'), `docker://${distribution.host}/compat/one:1`]);
      await skopeo('copy', [layout.ref('two'), `docker://${berthHost}/compat/two:1`]);

      for (const [source, other, repo] of [
        [distribution.host, berthHost, 'compat/one'],
        [berthHost, distribution.host, 'compat/two'],
      ] as const) {
        const expected = await inspectRaw(`docker://${source}/${repo}:1`);
        assert.equal((await inspectRaw(`docker://${other}/${repo}:1`)).digest, expected.digest, `${other} ${repo}`);
        // Blob GETs follow each registry's redirect to the object store.
        const dir = join(work, `${repo.replace('/', '-')}-from-${other.replace(/\W/g, '-')}`);
        await skopeo('copy', [`docker://${other}/${repo}:1`, `dir:${dir}`]);
        const copied = await readDirCopy(dir);
        assert.equal(copied.digest, expected.digest);
        for (const layer of copied.json.layers ?? []) assert.ok(copied.blobs.has(layer.digest), layer.digest);
      }
      const catalog = await (await fetch(`${berth.url}/v2/_catalog`)).json();
      assert.deepEqual(catalog, { repositories: ['compat/one', 'compat/two'] });
    } finally {
      await berth.close();
      await distribution.stop();
      await rm(work, { recursive: true, force: true });
    }
  });
});
