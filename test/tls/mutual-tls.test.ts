/**
 * Mutual TLS (`http.tls.clientcas`): clients must present a certificate signed by one of the
 * configured CAs — checked with curl, node:tls and skopeo's `--cert-dir` (client.cert/client.key).
 * `clientauth: verify-client-cert-if-given` lets certificate-less clients in but still refuses
 * a certificate that does not verify.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createOciLayout, type OciLayout, smallLayers } from '../helpers/images.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { CommandError, run } from '../helpers/tools.js';
import { createPki, type KeyPair, type Pki } from './pki.js';
import { curl, handshake, handshakeError } from './probe.js';

let work: string;
let pki: Pki;
let stranger: KeyPair;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-mtls-'));
  pki = await createPki(join(work, 'pki'));
  stranger = await pki.issueClient('stranger', await pki.issueCa('other-ca'));
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function clientOptions(pair: KeyPair) {
  return { cert: await readFile(pair.cert), key: await readFile(pair.key) };
}

describe('clientcas: a client certificate is required', () => {
  let server: TestServer;
  let layout: OciLayout;

  before(async () => {
    server = await startTestServer({
      http: { tls: { certificate: pki.server.bundle, key: pki.server.key, clientcas: [pki.clientCa.cert] } },
    });
    layout = await createOciLayout(join(work, 'layout'));
    await layout.addImage({ tag: 'small', layers: smallLayers('mtls') });
  });

  after(async () => {
    await server?.close();
  });

  test('curl: refused without a certificate or with one from another CA, served with ours', async () => {
    const url = `https://127.0.0.1:${server.port}/v2/`;
    const none = await curl(url, ['--cacert', pki.root.cert]);
    assert.notEqual(none.exitCode, 0, 'no client certificate must be refused');
    const wrong = await curl(url, ['--cacert', pki.root.cert, '--cert', stranger.cert, '--key', stranger.key]);
    assert.notEqual(wrong.exitCode, 0, 'a certificate from another CA must be refused');
    const good = await curl(url, ['--cacert', pki.root.cert, '--cert', pki.client.cert, '--key', pki.client.key]);
    assert.equal(good.status, 200, good.stderr);
  });

  test('node:tls: the same three cases', async () => {
    assert.ok(await handshakeError(server.port, pki.root.cert));
    assert.ok(await handshakeError(server.port, pki.root.cert, await clientOptions(stranger)));
    await handshake(server.port, pki.root.cert, await clientOptions(pki.client));
  });

  test('skopeo with client.cert/client.key in --cert-dir pushes and pulls', { timeout: 120_000 }, async () => {
    const withClient = join(work, 'certs-client');
    const rootOnly = join(work, 'certs-root');
    await mkdir(withClient, { recursive: true });
    await mkdir(rootOnly, { recursive: true });
    await copyFile(pki.root.cert, join(withClient, 'ca.crt'));
    await copyFile(pki.client.cert, join(withClient, 'client.cert'));
    await copyFile(pki.client.key, join(withClient, 'client.key'));
    await copyFile(pki.root.cert, join(rootOnly, 'ca.crt'));
    const ref = `docker://127.0.0.1:${server.port}/mtls/small:1`;
    await run('skopeo', ['copy', '--dest-cert-dir', withClient, layout.ref('small'), ref], { timeoutMs: 90_000 });
    const { stdout } = await run('skopeo', ['inspect', '--cert-dir', withClient, '--raw', ref], { timeoutMs: 60_000 });
    assert.equal((JSON.parse(stdout) as { schemaVersion: number }).schemaVersion, 2);
    await assert.rejects(
      run('skopeo', ['inspect', '--cert-dir', rootOnly, '--raw', ref], { timeoutMs: 60_000 }),
      (error: unknown) => error instanceof CommandError && /certificate|tls|reset|EOF/i.test(error.stderr),
    );
  });
});

test('clientauth verify-client-cert-if-given: none is fine, a bad one is not', async () => {
  const server = await startTestServer({
    http: {
      tls: {
        certificate: pki.server.bundle,
        key: pki.server.key,
        clientcas: [pki.clientCa.cert],
        clientauth: 'verify-client-cert-if-given',
      },
    },
  });
  try {
    await handshake(server.port, pki.root.cert);
    await handshake(server.port, pki.root.cert, await clientOptions(pki.client));
    assert.ok(await handshakeError(server.port, pki.root.cert, await clientOptions(stranger)));
    const url = `https://127.0.0.1:${server.port}/v2/`;
    assert.equal((await curl(url, ['--cacert', pki.root.cert])).status, 200);
    const wrong = await curl(url, ['--cacert', pki.root.cert, '--cert', stranger.cert, '--key', stranger.key]);
    assert.notEqual(wrong.status, 200);
  } finally {
    await server.close();
  }
});
