/**
 * Two (and three) Berth servers over the same storage directory, as replicas behind a load
 * balancer are: an upload's requests alternate between them, and its signed `_state` is honoured
 * by every replica sharing `http.secret` (and by registry:2 sharing it) — and by no other.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { createUploadStateCodec, type UploadState } from '../../src/http/upload-state.js';
import { assertError, sha256, startUpload, withDigest } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { startDockerRegistry } from '../helpers/tools.js';

const SECRET = 'replicas-share-this-secret';

/** `secret: null` runs without `http.secret`. */
function replica(root: string, secret: string | null = SECRET, logger?: pino.Logger): Promise<TestServer> {
  return startTestServer(
    {
      storage: { filesystem: { rootdirectory: root }, delete: { enabled: true } },
      ...(secret === null ? {} : { http: { secret } }),
    },
    logger === undefined ? {} : { logger },
  );
}

/**
 * The upload URL re-signed without the digest Berth puts in its state, as registry:2 (or an
 * older Berth) would have handed it out: the commit then has to verify by other means.
 */
function withoutSignedDigest(location: string): string {
  const url = new URL(location);
  url.searchParams.set('_state', createUploadStateCodec(SECRET).pack(stateWithoutDigest(location)));
  return url.toString();
}

/** The upload state an upload URL carries, without Berth's digest of the bytes so far. */
function stateWithoutDigest(location: string): UploadState {
  const { sha256: _dropped, ...state } = createUploadStateCodec(SECRET).unpack(
    new URL(location).searchParams.get('_state'),
  );
  return state;
}

/** The same upload URL on another replica (what a load balancer does to a request). */
function on(server: { url: string }, location: string): string {
  const url = new URL(location);
  return `${server.url}${url.pathname}${url.search}`;
}

async function patch(url: string, body: Buffer, start: number): Promise<Response> {
  return fetch(url, {
    method: 'PATCH',
    headers: { 'Content-Range': `${start}-${start + body.length - 1}`, 'Content-Type': 'application/octet-stream' },
    body,
  });
}

function uploadDir(root: string, name: string, location: string): string {
  const id = new URL(location).pathname.split('/').pop() ?? '';
  return join(root, 'docker/registry/v2/repositories', name, '_uploads', id);
}

describe('replicas over shared storage with one http.secret', () => {
  let root: string;
  let a: TestServer;
  let b: TestServer;
  let c: TestServer;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-replicas-'));
    [a, b, c] = await Promise.all([replica(root), replica(root), replica(root)]);
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close(), c?.close()]);
    await rm(root, { recursive: true, force: true });
  });

  test('chunks alternate between replicas and the commit lands on a third: right digest, same bytes everywhere', async () => {
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const digest = sha256(bytes);
    const replicas = [a, b, a, b];
    let location = await startUpload(c.url, 'cluster/alternate');
    const chunk = 800 * 1024;
    let offset = 0;
    for (let i = 0; offset < bytes.length; i++) {
      const server = replicas[i % replicas.length] as TestServer;
      const body = bytes.subarray(offset, offset + chunk);
      const res = await patch(on(server, location), body, offset);
      assert.equal(res.status, 202, await res.text());
      offset += body.length;
      assert.equal(res.headers.get('range'), `0-${offset - 1}`);
      location = new URL(res.headers.get('location') ?? '', server.url).toString();
      // Each chunk left a saved hash state for the next replica at its end offset.
      const states = await readdir(join(uploadDir(root, 'cluster/alternate', location), 'berth-hashstates/sha256'));
      assert.ok(states.includes(String(offset)), `state at ${offset}: ${states.join(',')}`);
    }
    const status = await fetch(on(b, location));
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), `0-${bytes.length - 1}`);
    const put = await fetch(withDigest(on(c, location), digest), { method: 'PUT' });
    assert.equal(put.status, 201, await put.text());
    assert.equal(put.headers.get('docker-content-digest'), digest);
    for (const server of [a, b, c]) {
      const got = await fetch(`${server.url}/v2/cluster/alternate/blobs/${digest}`);
      assert.equal(got.status, 200);
      assert.deepEqual(Buffer.from(await got.arrayBuffer()), bytes);
    }
  });

  test('without saved states (lost, or written by another implementation) the commit re-reads and still verifies', async () => {
    const bytes = randomBytes(256 * 1024);
    let location = await startUpload(a.url, 'cluster/nostate');
    const first = await patch(on(a, location), bytes.subarray(0, 100_000), 0);
    assert.equal(first.status, 202);
    location = new URL(first.headers.get('location') ?? '', a.url).toString();
    await rm(join(uploadDir(root, 'cluster/nostate', location), 'berth-hashstates'), { recursive: true });
    const second = await patch(on(b, withoutSignedDigest(location)), bytes.subarray(100_000), 100_000);
    assert.equal(second.status, 202, await second.text());
    location = new URL(second.headers.get('location') ?? '', b.url).toString();
    await rm(join(uploadDir(root, 'cluster/nostate', location), 'berth-hashstates'), { recursive: true });
    const wrong = await fetch(withDigest(on(c, withoutSignedDigest(location)), sha256('other bytes')), {
      method: 'PUT',
    });
    await assertError(wrong, 400, 'DIGEST_INVALID');

    const again = await startUpload(b.url, 'cluster/nostate');
    const whole = await patch(on(a, again), bytes, 0);
    assert.equal(whole.status, 202);
    const next = withoutSignedDigest(new URL(whole.headers.get('location') ?? '', a.url).toString());
    await rm(join(uploadDir(root, 'cluster/nostate', next), 'berth-hashstates'), { recursive: true });
    const put = await fetch(withDigest(on(c, next), sha256(bytes)), { method: 'PUT' });
    assert.equal(put.status, 201, await put.text());
  });

  test('a tampered _state is refused by every replica with 400 BLOB_UPLOAD_INVALID; the upload goes on', async () => {
    const location = new URL(await startUpload(a.url, 'cluster/tamper'));
    const token = location.searchParams.get('_state') ?? '';
    const payload = Buffer.from(token, 'base64url');
    // Claim a larger offset: the JSON changes, the MAC does not.
    const forged = Buffer.from(payload.toString('latin1').replace('"Offset":0', '"Offset":9'), 'latin1');
    assert.notDeepEqual(forged, payload);
    const tampered = new URL(location);
    tampered.searchParams.set('_state', forged.toString('base64url'));
    for (const server of [a, b, c]) {
      await assertError(await patch(on(server, tampered.toString()), Buffer.from('x'), 0), 400, 'BLOB_UPLOAD_INVALID');
      await assertError(await fetch(on(server, tampered.toString())), 400, 'BLOB_UPLOAD_INVALID');
    }
    const res = await patch(on(b, location.toString()), Buffer.from('fine'), 0);
    assert.equal(res.status, 202);
  });

  test('a stale upload URL (replayed after a later chunk) gets 416 with the stored range, not a corrupt blob', async () => {
    const bytes = randomBytes(2000);
    const first = await startUpload(a.url, 'cluster/stale');
    const one = await fetch(on(a, first), { method: 'PATCH', body: bytes.subarray(0, 1000) });
    assert.equal(one.status, 202);
    const current = new URL(one.headers.get('location') ?? '', a.url).toString();
    // The client replays the first chunk on the old URL (no Content-Range: a streamed PATCH).
    const replay = await fetch(on(b, first), { method: 'PATCH', body: bytes.subarray(0, 1000) });
    assert.equal(replay.headers.get('range'), '0-999');
    const resumeAt = new URL(replay.headers.get('location') ?? '', b.url).toString();
    await assertError(replay, 416, 'RANGE_INVALID');
    // The same session and offset; only the process that hashed the bytes can add their digest.
    assert.deepEqual(stateWithoutDigest(resumeAt), stateWithoutDigest(current));
    const two = await fetch(on(c, resumeAt), { method: 'PATCH', body: bytes.subarray(1000) });
    assert.equal(two.status, 202, await two.text());
    const done = new URL(two.headers.get('location') ?? '', c.url).toString();
    const put = await fetch(withDigest(on(a, done), sha256(bytes)), { method: 'PUT' });
    assert.equal(put.status, 201, await put.text());
  });

  test('a replica with another secret refuses the others’ upload URLs', async () => {
    const other = await replica(root, 'a-different-secret');
    try {
      const location = await startUpload(a.url, 'cluster/foreign');
      await assertError(await fetch(on(other, location)), 400, 'BLOB_UPLOAD_INVALID');
      const mine = await startUpload(other.url, 'cluster/foreign');
      await assertError(await fetch(on(b, mine)), 400, 'BLOB_UPLOAD_INVALID');
    } finally {
      await other.close();
    }
  });
});

describe('cluster workers sharing a secret their primary made up (native sha256)', () => {
  let root: string;
  let a: TestServer;
  let b: TestServer;
  /** Ranged and whole reads of upload data by `b`. */
  const sessionReads: string[] = [];
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-workers-'));
    const config = { storage: { filesystem: { rootdirectory: root } }, http: { secret: SECRET } };
    a = await startTestServer(config, { secretIsLocal: true });
    b = await startTestServer(config, {
      secretIsLocal: true,
      wrapDriver: (driver) => ({
        ...driver,
        reader(path, opts) {
          if (path.includes('/_uploads/')) sessionReads.push(path);
          return driver.reader(path, opts);
        },
      }),
    });
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await rm(root, { recursive: true, force: true });
  });

  test('a PUT on the other worker verifies the digest the signed URL carries, without reading the data back', async () => {
    const bytes = randomBytes(1024 * 1024 + 5);
    const started = await startUpload(a.url, 'workers/app');
    const patched = await patch(on(a, started), bytes, 0);
    assert.equal(patched.status, 202, await patched.text());
    const location = new URL(patched.headers.get('location') ?? '', a.url).toString();
    sessionReads.length = 0;

    const wrong = await fetch(withDigest(on(b, location), sha256('other bytes')), { method: 'PUT' });
    await assertError(wrong, 400, 'DIGEST_INVALID');
    assert.deepEqual(sessionReads, []);

    const again = await startUpload(a.url, 'workers/app');
    const whole = await patch(on(a, again), bytes, 0);
    assert.equal(whole.status, 202);
    const next = new URL(whole.headers.get('location') ?? '', a.url).toString();
    const put = await fetch(withDigest(on(b, next), sha256(bytes)), { method: 'PUT' });
    assert.equal(put.status, 201, await put.text());
    assert.deepEqual(sessionReads, []);
    const got = await fetch(`${b.url}/v2/workers/app/blobs/${sha256(bytes)}`);
    assert.deepEqual(Buffer.from(await got.arrayBuffer()), bytes);
  });

  test('a URL without the digest, or one the data has outgrown, makes the other worker read the data back', async () => {
    const bytes = randomBytes(300_000);
    const started = await startUpload(a.url, 'workers/app');
    const first = await patch(on(a, started), bytes.subarray(0, 100_000), 0);
    assert.equal(first.status, 202);
    const stale = new URL(first.headers.get('location') ?? '', a.url).toString();
    const second = await patch(on(a, stale), bytes.subarray(100_000), 100_000);
    assert.equal(second.status, 202);

    // The first chunk's URL vouches for the first 100,000 bytes only: its digest must not pass.
    sessionReads.length = 0;
    const outgrown = await fetch(withDigest(on(b, stale), sha256(bytes.subarray(0, 100_000))), { method: 'PUT' });
    await assertError(outgrown, 400, 'DIGEST_INVALID');
    assert.ok(sessionReads.length > 0, 'the data was read back');

    const again = await startUpload(a.url, 'workers/app');
    const whole = await patch(on(a, again), bytes, 0);
    assert.equal(whole.status, 202);
    const unsigned = withoutSignedDigest(new URL(whole.headers.get('location') ?? '', a.url).toString());
    sessionReads.length = 0;
    const put = await fetch(withDigest(on(b, unsigned), sha256(bytes)), { method: 'PUT' });
    assert.equal(put.status, 201, await put.text());
    assert.ok(sessionReads.length > 0, 'the data was read back');
  });
});

describe('replicas without http.secret', () => {
  test('each process makes up its own secret, warns about it, and refuses the other’s upload URLs', async () => {
    const root = await mkdtemp(join(tmpdir(), 'berth-nosecret-'));
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const logger = pino({ level: 'warn' }, sink);
    const [x, y] = await Promise.all([replica(root, null, logger), replica(root, null)]);
    try {
      assert.ok(
        lines.some((line) => line.includes('No HTTP secret provided') && line.includes('"level":40')),
        lines.join(''),
      );
      const location = await startUpload(x.url, 'nosecret/repo');
      assert.equal((await fetch(on(x, location))).status, 204);
      await assertError(await fetch(on(y, location)), 400, 'BLOB_UPLOAD_INVALID');
    } finally {
      await Promise.all([x.close(), y.close()]);
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('Berth and registry:2 sharing storage and http.secret', () => {
  let root: string;
  let berth: TestServer;
  let distribution: Awaited<ReturnType<typeof startDockerRegistry>>;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-mixed-'));
    berth = await replica(root);
    distribution = await startDockerRegistry({ rootDir: root, secret: SECRET });
  });
  after(async () => {
    await Promise.all([berth?.close(), distribution?.stop()]);
    await rm(root, { recursive: true, force: true });
  });

  for (const [first, second] of [
    ['registry:2', 'berth'],
    ['berth', 'registry:2'],
  ] as const) {
    test(`an upload started on ${first} is continued and finished on ${second} and back`, async () => {
      const servers = { berth, 'registry:2': distribution };
      const bytes = randomBytes(300_000);
      const name = `mixed/${first.replace(':', '')}`;
      let location = await startUpload(servers[first].url, name);
      const plan = [
        [second, 0, 100_000],
        [first, 100_000, 200_000],
        [second, 200_000, 300_000],
      ] as const;
      for (const [who, start, end] of plan) {
        const server = servers[who];
        const res = await patch(on(server, location), bytes.subarray(start, end), start);
        assert.equal(res.status, 202, `${who} PATCH ${start}: ${await res.text()}\n${distribution.log().slice(-2000)}`);
        location = new URL(res.headers.get('location') ?? '', server.url).toString();
      }
      const put = await fetch(withDigest(on(servers[first], location), sha256(bytes)), { method: 'PUT' });
      assert.equal(put.status, 201, `${first} PUT: ${await put.text()}`);
      for (const server of [berth, distribution]) {
        const got = await fetch(`${server.url}/v2/${name}/blobs/${sha256(bytes)}`);
        assert.equal(got.status, 200);
        assert.deepEqual(Buffer.from(await got.arrayBuffer()), bytes);
      }
    });
  }
});
