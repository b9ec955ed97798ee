/**
 * HTTPS with certificates the test makes (root → intermediate → leaf): the bundle serves the
 * whole chain to clients that trust only the root, `minimumtls` and `ciphersuites` decide what is
 * negotiated, configuration mistakes stop start-up with a clear message, and skopeo pushes and
 * pulls with `--cert-dir` over verified TLS.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createOciLayout, type OciLayout, smallLayers } from '../helpers/images.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { CommandError, run } from '../helpers/tools.js';
import { createPki, type Pki } from './pki.js';
import { curl, handshake, handshakeError } from './probe.js';

let work: string;
let pki: Pki;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-tls-'));
  pki = await createPki(join(work, 'pki'));
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

function tlsServer(tls: Record<string, unknown>): Promise<TestServer> {
  return startTestServer({ http: { tls } });
}

describe('a certificate bundle (leaf + intermediate)', () => {
  let server: TestServer;
  let layout: OciLayout;
  let certDir: string;

  before(async () => {
    server = await tlsServer({ certificate: pki.server.bundle, key: pki.server.key });
    layout = await createOciLayout(join(work, 'layout'));
    await layout.addImage({ tag: 'small', layers: smallLayers('tls') });
    certDir = join(work, 'certs.d');
    await mkdir(certDir, { recursive: true });
    await copyFile(pki.root.cert, join(certDir, 'ca.crt'));
  });

  after(async () => {
    await server?.close();
  });

  test('serves HTTPS, and the whole chain verifies against the root alone', async () => {
    assert.match(server.url, /^https:\/\//);
    const shake = await handshake(server.port, pki.root.cert);
    assert.equal(shake.serial, pki.server.serial);
    const res = await curl(`https://127.0.0.1:${server.port}/v2/`, ['--cacert', pki.root.cert]);
    assert.equal(res.status, 200, res.stderr);
    assert.equal(res.body, '{}');
  });

  test('plain HTTP to the TLS port gets no registry answer', async () => {
    const res = await curl(`http://127.0.0.1:${server.port}/v2/`);
    assert.notEqual(res.status, 200);
  });

  test('a client that does not trust the root refuses the certificate', async () => {
    const res = await curl(`https://127.0.0.1:${server.port}/v2/`);
    assert.notEqual(res.exitCode, 0);
    assert.match(res.stderr, /certificate/i);
  });

  test('skopeo pushes and pulls with --cert-dir, verifying the chain', { timeout: 120_000 }, async () => {
    const ref = `docker://127.0.0.1:${server.port}/tls/small:1`;
    await run('skopeo', ['copy', '--dest-cert-dir', certDir, layout.ref('small'), ref], { timeoutMs: 90_000 });
    const { stdout } = await run('skopeo', ['inspect', '--cert-dir', certDir, '--raw', ref], { timeoutMs: 60_000 });
    assert.equal((JSON.parse(stdout) as { schemaVersion: number }).schemaVersion, 2);
    // Without the root, verification (not the registry) stops it.
    await assert.rejects(
      run('skopeo', ['inspect', '--raw', ref], { timeoutMs: 60_000 }),
      (error: unknown) => error instanceof CommandError && /certificate|x509/i.test(error.stderr),
    );
  });
});

test('a leaf served without its intermediate does not verify against the root', async () => {
  const server = await tlsServer({ certificate: pki.server.cert, key: pki.server.key });
  try {
    const error = await handshakeError(server.port, pki.root.cert);
    assert.match(error ?? 'verified', /unable to verify|issuer/i);
  } finally {
    await server.close();
  }
});

describe('protocol versions and cipher suites', () => {
  test('default: TLS 1.2 at least, with distribution’s suites in its order', async () => {
    const server = await tlsServer({ certificate: pki.server.bundle, key: pki.server.key });
    try {
      assert.match(
        (await handshakeError(server.port, pki.root.cert, { maxVersion: 'TLSv1.1', minVersion: 'TLSv1' })) ?? '',
        /version|protocol|alert/i,
      );
      const tls12 = await handshake(server.port, pki.root.cert, { maxVersion: 'TLSv1.2' });
      assert.equal(tls12.protocol, 'TLSv1.2');
      assert.equal(tls12.cipher, 'ECDHE-ECDSA-AES128-GCM-SHA256');
      // A CBC suite is outside distribution's default list.
      assert.ok(
        await handshakeError(server.port, pki.root.cert, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA' }),
      );
      assert.equal((await handshake(server.port, pki.root.cert)).protocol, 'TLSv1.3');
    } finally {
      await server.close();
    }
  });

  test('minimumtls: tls1.3 refuses TLS 1.2 clients', async () => {
    const server = await tlsServer({ certificate: pki.server.bundle, key: pki.server.key, minimumtls: 'tls1.3' });
    try {
      assert.ok(await handshakeError(server.port, pki.root.cert, { maxVersion: 'TLSv1.2' }));
      assert.equal((await handshake(server.port, pki.root.cert)).protocol, 'TLSv1.3');
      const res = await curl(`https://127.0.0.1:${server.port}/v2/`, ['--cacert', pki.root.cert, '--tls-max', '1.2']);
      assert.notEqual(res.exitCode, 0);
    } finally {
      await server.close();
    }
  });

  test('ciphersuites in Go names restrict TLS 1.2 and leave TLS 1.3 as Go does', async () => {
    const server = await tlsServer({
      certificate: pki.server.bundle,
      key: pki.server.key,
      ciphersuites: ['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'],
    });
    try {
      const tls12 = await handshake(server.port, pki.root.cert, { maxVersion: 'TLSv1.2' });
      assert.equal(tls12.cipher, 'ECDHE-ECDSA-AES256-GCM-SHA384');
      assert.ok(
        await handshakeError(server.port, pki.root.cert, {
          maxVersion: 'TLSv1.2',
          ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256',
        }),
      );
      assert.equal((await handshake(server.port, pki.root.cert)).protocol, 'TLSv1.3');
    } finally {
      await server.close();
    }
  });

  test('a TLS 1.3 suite in the list restricts TLS 1.3 too', async () => {
    const server = await tlsServer({
      certificate: pki.server.bundle,
      key: pki.server.key,
      ciphersuites: ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'TLS_CHACHA20_POLY1305_SHA256'],
    });
    try {
      const shake = await handshake(server.port, pki.root.cert);
      assert.equal(shake.cipher, 'TLS_CHACHA20_POLY1305_SHA256');
    } finally {
      await server.close();
    }
  });
});

describe('configuration mistakes stop start-up with a clear message', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['an unknown cipher suite', { ciphersuites: ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'TLS_BOGUS'] }, /TLS_BOGUS/],
    ['an RC4 suite', { ciphersuites: ['TLS_RSA_WITH_RC4_128_SHA'] }, /RC4/],
    ['a certificate without a key', { key: undefined }, /http\.tls\.key is required/],
    ['an unknown clientauth', { clientauth: 'maybe' }, /http\.tls\.clientauth/],
    ['certificate and letsencrypt together', { letsencrypt: { cachefile: '/tmp/x', hosts: ['a.test'] } }, /either/],
    ['a missing certificate file', { certificate: '/nonexistent/berth.crt' }, /cannot read \/nonexistent\/berth\.crt/],
    ['a key that does not match', { key: 'CLIENT_KEY' }, /cannot serve certificate/],
  ];
  for (const [what, override, message] of cases) {
    test(what, async () => {
      const tls: Record<string, unknown> = { certificate: pki.server.bundle, key: pki.server.key, ...override };
      if (tls['key'] === 'CLIENT_KEY') tls['key'] = pki.client.key;
      if ('key' in override && override['key'] === undefined) delete tls['key'];
      await assert.rejects(tlsServer(tls), message);
    });
  }

  test('letsencrypt without hosts or cachefile', async () => {
    await assert.rejects(tlsServer({ letsencrypt: { cachefile: join(work, 'acme.json') } }), /letsencrypt\.hosts/);
    await assert.rejects(tlsServer({ letsencrypt: { hosts: ['a.test'] } }), /letsencrypt\.cachefile/);
  });
});
