/**
 * `http.limits`: each limit answers with a clear error and leaves the server and the upload
 * session usable — header size (431), manifest size (413), chunk and upload size (413),
 * concurrent uploads per client (429), and the idle timeout, which stops stalled transfers (408)
 * in both directions but never a slow one that keeps moving.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { OCI_MANIFEST, pushBlob, putManifest, sha256, startUpload } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { errorCode, head, rawExchange, request } from './raw-http.js';

function pathOf(url: string): string {
  const parsed = new URL(url);
  return parsed.pathname + parsed.search;
}

/** The upload session's size as the registry reports it (`Range: 0-<last>`). */
async function sessionSize(server: TestServer, location: string): Promise<number> {
  const res = await fetch(new URL(pathOf(location), server.url));
  await res.arrayBuffer();
  assert.equal(res.status, 204);
  const range = res.headers.get('range') ?? '';
  const last = Number(range.split('-')[1]);
  return range === '0-0' ? 0 : last + 1;
}

async function withServer(limits: Record<string, unknown>, fn: (server: TestServer) => Promise<void>) {
  const server = await startTestServer({ http: { limits } });
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

test('request headers over maxheaderbytes: 431 with a JSON error, and the server goes on', async () => {
  await withServer({ maxheaderbytes: 4096 }, async (server) => {
    const big = await rawExchange(server.port, [head('GET', '/v2/', [['X-Padding', 'a'.repeat(8000)]])]);
    assert.equal(big.status, 431);
    assert.match(big.body.toString(), /maxheaderbytes/);
    assert.equal(errorCode(big), 'UNKNOWN');
    const fine = await rawExchange(server.port, [request('GET', '/v2/', '', [['X-Padding', 'a'.repeat(2000)]])]);
    assert.equal(fine.status, 200);
  });
});

test('malformed requests get a 400 JSON answer instead of a reset', async () => {
  await withServer({}, async (server) => {
    const bad = await rawExchange(server.port, ['GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n']);
    assert.equal(bad.status, 400);
    assert.match(bad.body.toString(), /malformed/);
  });
});

test('maxmanifestbytes (written as "2KiB"): a larger manifest is 413 MANIFEST_INVALID', async () => {
  await withServer({ maxmanifestbytes: '2KiB' }, async (server) => {
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256('{}'), size: 2 },
        layers: [],
        annotations: { padding: 'x'.repeat(3000) },
      }),
    );
    const res = await putManifest(server.url, 'limits/manifest', 'big', manifest, OCI_MANIFEST);
    const body = (await res.json()) as { errors: Array<{ code: string }> };
    assert.equal(res.status, 413);
    assert.equal(body.errors[0]?.code, 'MANIFEST_INVALID');
  });
});

test('maxchunkbytes and maxuploadbytes: 413 SIZE_INVALID, the session keeps its size', async () => {
  await withServer({ maxchunkbytes: 1000, maxuploadbytes: 2500 }, async (server) => {
    const name = 'limits/chunks';
    const location = await startUpload(server.url, name);
    const path = pathOf(location);
    const tooBig = randomBytes(1500);

    const declared = await rawExchange(server.port, [request('PATCH', path, tooBig)]);
    assert.equal(declared.status, 413);
    assert.equal(errorCode(declared), 'SIZE_INVALID');
    assert.match(declared.body.toString(), /maxchunkbytes/);

    // Without a Content-Length the body is counted as it arrives.
    const chunked = Buffer.concat([
      Buffer.from(
        head('PATCH', path, [
          ['Transfer-Encoding', 'chunked'],
          ['Connection', 'close'],
        ]),
      ),
      Buffer.from(`${tooBig.length.toString(16)}\r\n`),
      tooBig,
      Buffer.from('\r\n0\r\n\r\n'),
    ]);
    const streamed = await rawExchange(server.port, [chunked]);
    assert.equal(streamed.status, 413);
    assert.equal(await sessionSize(server, location), 0);

    const parts = [randomBytes(1000), randomBytes(1000), randomBytes(500)];
    let next = path;
    for (const part of parts) {
      const ok = await rawExchange(server.port, [request('PATCH', next, part)]);
      assert.equal(ok.status, 202, ok.body.toString());
      next = pathOf(new URL(ok.headers['location'] ?? '', server.url).toString());
    }
    const over = await rawExchange(server.port, [request('PATCH', next, 'x')]);
    assert.equal(over.status, 413);
    assert.match(over.body.toString(), /maxuploadbytes/);
    assert.equal(await sessionSize(server, location), 2500);

    const all = Buffer.concat(parts);
    const url = new URL(next, server.url);
    url.searchParams.set('digest', sha256(all));
    const done = await fetch(url, { method: 'PUT' });
    await done.arrayBuffer();
    assert.equal(done.status, 201);

    const mono = await fetch(`${server.url}/v2/${name}/blobs/uploads/?digest=${sha256(tooBig)}`, {
      method: 'POST',
      body: tooBig,
    });
    await mono.arrayBuffer();
    assert.equal(mono.status, 413);
    const head404 = await fetch(`${server.url}/v2/${name}/blobs/${sha256(tooBig)}`, { method: 'HEAD' });
    assert.equal(head404.status, 404);
  });
});

test('maxconcurrentuploads: the next upload from the same client is 429, other clients go on', async () => {
  await withServer({ maxconcurrentuploads: 2 }, async (server) => {
    const name = 'limits/concurrent';
    const sessions = await Promise.all([0, 1, 2, 3].map(() => startUpload(server.url, name)));
    const body = randomBytes(100);
    // Two uploads that send half their body and wait.
    const held = sessions.slice(0, 2).map((location) => {
      const socket = connect({ host: '127.0.0.1', port: server.port });
      socket.write(head('PATCH', pathOf(location), [['Content-Length', body.length]]));
      socket.write(body.subarray(0, 50));
      return socket;
    });
    try {
      await sleep(300);
      const third = await rawExchange(server.port, [request('PATCH', pathOf(sessions[2] ?? ''), body)]);
      assert.equal(third.status, 429);
      assert.equal(errorCode(third), 'TOO_MANY_REQUESTS');
      assert.equal(third.headers['retry-after'], '1');

      // Another address on the loopback network is another client.
      const other = await new Promise<string>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: server.port, localAddress: '127.0.0.2' });
        const chunks: Buffer[] = [];
        socket.on('data', (c: Buffer) => chunks.push(c));
        socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
        socket.on('error', reject);
        socket.write(request('PATCH', pathOf(sessions[3] ?? ''), body));
      });
      assert.match(other, /^HTTP\/1\.1 202/);
    } finally {
      for (const socket of held) socket.destroy();
    }
    // Once those are gone the client is admitted again.
    await sleep(100);
    const again = await rawExchange(server.port, [request('PATCH', pathOf(sessions[2] ?? ''), body)]);
    assert.equal(again.status, 202);
  });
});

describe('idletimeout', () => {
  test('a slow upload that keeps moving is never cut', async () => {
    await withServer({ idletimeout: '400ms' }, async (server) => {
      const location = await startUpload(server.url, 'limits/slow');
      const body = randomBytes(2000);
      const parts: Array<Buffer | string | number> = [head('PATCH', pathOf(location), [['Content-Length', 2000]])];
      for (let i = 0; i < 10; i++) parts.push(150, body.subarray(i * 200, (i + 1) * 200));
      const started = Date.now();
      const answer = await rawExchange(server.port, parts);
      assert.ok(Date.now() - started > 1000, 'the transfer took longer than the idle timeout');
      assert.equal(answer.status, 202, answer.body.toString());
      assert.equal(await sessionSize(server, location), 2000);
    });
  });

  test('a stalled upload body is stopped with 408 and the session keeps its previous size', async () => {
    await withServer({ idletimeout: '400ms' }, async (server) => {
      const location = await startUpload(server.url, 'limits/stalled');
      const first = await rawExchange(server.port, [request('PATCH', pathOf(location), randomBytes(100))]);
      assert.equal(first.status, 202);
      const next = pathOf(new URL(first.headers['location'] ?? '', server.url).toString());
      const started = Date.now();
      const stalled = await rawExchange(server.port, [
        head('PATCH', next, [['Content-Length', 1000]]),
        randomBytes(300),
      ]);
      assert.equal(stalled.status, 408);
      assert.equal(errorCode(stalled), 'BLOB_UPLOAD_INVALID');
      assert.match(stalled.body.toString(), /idletimeout/);
      assert.equal(stalled.headers['connection'], 'close');
      assert.ok(Date.now() - started < 3000);
      assert.equal(await sessionSize(server, location), 100);
    });
  });

  test('every stalled upload is stopped while other requests come and go around it', async () => {
    await withServer({ idletimeout: '400ms' }, async (server) => {
      const locations = await Promise.all([1, 2, 3].map(() => startUpload(server.url, 'limits/many')));
      const stalled = locations.map((location) =>
        rawExchange(server.port, [head('PATCH', pathOf(location), [['Content-Length', 1000]]), randomBytes(300)]),
      );
      // Quick requests join the watch list around the stalled ones and leave it in any order.
      for (let round = 0; round < 5; round++) {
        const statuses = await Promise.all(
          Array.from({ length: 8 }, async () => {
            const res = await fetch(`${server.url}/v2/`);
            await res.arrayBuffer();
            return res.status;
          }),
        );
        assert.deepEqual(new Set(statuses), new Set([200]));
      }
      const answers = await Promise.all(stalled);
      assert.deepEqual(
        answers.map((answer) => answer.status),
        [408, 408, 408],
      );
      for (const location of locations) assert.equal(await sessionSize(server, location), 0);
    });
  });

  test('a client that stops reading a blob is disconnected; a slow reader is not', async () => {
    await withServer({ idletimeout: '400ms' }, async (server) => {
      const big = randomBytes(16 * 1024 * 1024);
      const digest = await pushBlob(server.url, 'limits/reader', big);
      const path = `/v2/limits/reader/blobs/${digest}`;

      const stuck = await new Promise<{ received: number; closed: boolean }>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port: server.port });
        let received = 0;
        socket.on('error', () => undefined);
        socket.write(head('GET', path));
        socket.once('data', (chunk: Buffer) => {
          received += chunk.length;
          socket.pause();
          setTimeout(() => {
            socket.on('data', (more: Buffer) => {
              received += more.length;
            });
            socket.resume();
          }, 1500);
        });
        socket.on('close', () => resolve({ received, closed: true }));
      });
      assert.ok(stuck.received < big.length, `got ${stuck.received} of ${big.length} bytes`);

      const small = randomBytes(1024 * 1024);
      const smallDigest = await pushBlob(server.url, 'limits/reader', small);
      const slow = await new Promise<number>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: server.port });
        let received = 0;
        socket.on('error', reject);
        socket.on('data', (chunk: Buffer) => {
          received += chunk.length;
          socket.pause();
          setTimeout(() => socket.resume(), 60);
        });
        socket.on('close', () => resolve(received));
        socket.write(request('GET', `/v2/limits/reader/blobs/${smallDigest}`));
      });
      assert.ok(slow > small.length, `a slow reader got all ${small.length} bytes (got ${slow})`);
    });
  });
});
