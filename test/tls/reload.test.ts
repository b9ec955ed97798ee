/**
 * Certificate rotation without a restart: replacing the certificate and key files makes new
 * connections get the new certificate, while a half-done rotation (new certificate, old key)
 * keeps the old pair serving until the key arrives. Client CAs are reloaded the same way.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestServer } from '../helpers/server.js';
import { createPki, type Pki, replaceFile } from './pki.js';
import { handshake, handshakeError } from './probe.js';

let work: string;
let pki: Pki;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-tls-reload-'));
  pki = await createPki(join(work, 'pki'));
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Polls until `check` passes or `ms` elapse. */
async function eventually(check: () => Promise<void>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(50);
    }
  }
}

test('replacing certificate and key files switches new connections to the new pair', async () => {
  const live = await mkdtemp(join(work, 'live-'));
  const certFile = join(live, 'domain.crt');
  const keyFile = join(live, 'domain.key');
  await copyFile(pki.server.bundle, certFile);
  await copyFile(pki.server.key, keyFile);
  const server = await startTestServer({ http: { tls: { certificate: certFile, key: keyFile } } });
  try {
    assert.equal((await handshake(server.port, pki.root.cert)).serial, pki.server.serial);
    const next = await pki.issueServer('rotated');

    // The certificate lands first: it does not match the old key, so the old pair keeps serving.
    await replaceFile(certFile, await readFile(next.bundle));
    await sleep(600);
    assert.equal((await handshake(server.port, pki.root.cert)).serial, pki.server.serial);

    await replaceFile(keyFile, await readFile(next.key));
    await eventually(async () => {
      assert.equal((await handshake(server.port, pki.root.cert)).serial, next.serial);
    });

    // In-place rewrites (no rename) are picked up too.
    const third = await pki.issueServer('third');
    await writeFile(keyFile, await readFile(third.key));
    await writeFile(certFile, await readFile(third.bundle));
    await eventually(async () => {
      assert.equal((await handshake(server.port, pki.root.cert)).serial, third.serial);
    });
  } finally {
    await server.close();
  }
});

test('a rotated client CA file is reloaded as well', async () => {
  const live = await mkdtemp(join(work, 'live-ca-'));
  const caFile = join(live, 'clients.pem');
  await copyFile(pki.clientCa.cert, caFile);
  const server = await startTestServer({
    http: { tls: { certificate: pki.server.bundle, key: pki.server.key, clientcas: [caFile] } },
  });
  try {
    const otherCa = await pki.issueCa('rotated-client-ca');
    const newClient = await pki.issueClient('rotated-client', otherCa);
    const asNew = { cert: await readFile(newClient.cert), key: await readFile(newClient.key) };
    assert.ok(await handshakeError(server.port, pki.root.cert, asNew));
    await replaceFile(caFile, await readFile(otherCa.cert));
    await eventually(async () => {
      await handshake(server.port, pki.root.cert, asNew);
    });
  } finally {
    await server.close();
  }
});
