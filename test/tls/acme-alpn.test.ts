/**
 * TLS-ALPN-01 routing on the registry's port, with real TLS clients: a ClientHello offering only
 * `acme-tls/1` reaches the challenge server and gets the RFC 8737 certificate acme-client made
 * for the key authorisation; every other client — whatever it offers, however slowly it sends
 * its hello — gets the registry's certificate and an HTTP answer.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { type AddressInfo, connect as connectTcp, createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, createSecureContext, createServer as createTlsServer, type SecureContext } from 'node:tls';
import * as acme from 'acme-client';
import { ACME_TLS_ALPN, parseClientHello, routeAcmeTlsAlpn } from '../../src/http/acme-alpn.js';
import { createPki, type Pki } from './pki.js';

const HOST = 'registry.berth.test';

/** The raw bytes of a ClientHello node:tls sends with `options`. */
async function captureHello(options: { servername?: string; ALPNProtocols?: string[] }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const server = createTcpServer();
  const got = new Promise<Buffer>((resolve) => {
    server.once('connection', (socket) => {
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        const data = Buffer.concat(chunks);
        if (parseClientHello(data) !== 'need-more') {
          socket.destroy();
          resolve(data);
        }
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, ...options });
  client.on('error', () => undefined);
  try {
    return await got;
  } finally {
    client.destroy();
    server.close();
  }
}

describe('ClientHello parsing', () => {
  test('finds the server name and the ALPN protocols, and waits for a complete hello', async () => {
    const hello = await captureHello({ servername: HOST, ALPNProtocols: [ACME_TLS_ALPN] });
    assert.deepEqual(parseClientHello(hello), { servername: HOST, alpn: [ACME_TLS_ALPN] });
    for (const cut of [1, 5, 40, hello.length - 1]) assert.equal(parseClientHello(hello.subarray(0, cut)), 'need-more');
    const plain = await captureHello({ servername: 'other.test', ALPNProtocols: ['h2', 'http/1.1'] });
    assert.deepEqual(parseClientHello(plain), { servername: 'other.test', alpn: ['h2', 'http/1.1'] });
    assert.deepEqual(parseClientHello(await captureHello({})), { servername: undefined, alpn: [] });
  });

  test('refuses what is not a ClientHello', () => {
    assert.equal(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n\r\n')), undefined);
    assert.equal(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0, 0, 0])), undefined);
    assert.equal(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00])), undefined);
    const huge = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0xff, 0xff, 0xff]);
    assert.equal(parseClientHello(huge), undefined);
  });
});

describe('routing acme-tls/1 connections on the registry port', () => {
  let work: string;
  let pki: Pki;
  let server: HttpsServer;
  let port: number;
  let keyAuthorization: string;
  const challenges = new Map<string, SecureContext>();

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-alpn-'));
    pki = await createPki(join(work, 'pki'));
    server = createHttpsServer(
      { cert: await readFile(pki.server.bundle), key: await readFile(pki.server.key) },
      (_req, res) => res.end('registry'),
    );
    const challengeServer = createTlsServer({
      ALPNProtocols: [ACME_TLS_ALPN],
      SNICallback: (name, cb) => cb(null, challenges.get(name)),
    });
    challengeServer.on('secureConnection', (socket) => socket.end());
    routeAcmeTlsAlpn(server, challengeServer, 500);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    keyAuthorization = `token-${Date.now()}.thumbprint`;
    const authz = { identifier: { type: 'dns', value: HOST } } as unknown as acme.Authorization;
    const [key, cert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization);
    challenges.set(HOST, createSecureContext({ key, cert }));
  });

  after(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await rm(work, { recursive: true, force: true });
  });

  test('an acme-tls/1 hello gets the challenge certificate', async () => {
    const pem = await new Promise<string>((resolve, reject) => {
      const socket = connect({
        host: '127.0.0.1',
        port,
        servername: HOST,
        ALPNProtocols: [ACME_TLS_ALPN],
        rejectUnauthorized: false,
      });
      socket.once('error', reject);
      socket.once('secureConnect', () => {
        assert.equal(socket.alpnProtocol, ACME_TLS_ALPN);
        const cert = socket.getPeerX509Certificate();
        socket.destroy();
        resolve(cert?.toString() ?? '');
      });
    });
    assert.ok(acme.crypto.isAlpnCertificateAuthorizationValid(pem, keyAuthorization));
    assert.equal(acme.crypto.isAlpnCertificateAuthorizationValid(pem, 'another.authorization'), false);
  });

  test('ordinary clients get the registry certificate and HTTP, even when they also offer acme-tls/1', async () => {
    for (const ALPNProtocols of [undefined, ['http/1.1'], ['h2', 'http/1.1'], [ACME_TLS_ALPN, 'http/1.1']]) {
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect({
          host: '127.0.0.1',
          port,
          servername: 'localhost',
          ca: readFileSync(pki.root.cert),
          ...(ALPNProtocols === undefined ? {} : { ALPNProtocols }),
        });
        socket.once('error', reject);
        socket.once('secureConnect', () =>
          socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'),
        );
        const chunks: Buffer[] = [];
        socket.on('data', (chunk: Buffer) => chunks.push(chunk));
        socket.once('end', () => resolve(Buffer.concat(chunks).toString()));
      });
      assert.match(answer, /^HTTP\/1\.1 200[\s\S]*registry$/, `ALPN ${ALPNProtocols?.join(',') ?? 'none'}`);
    }
  });

  test('a hello sent a few bytes at a time is put back together', async () => {
    const hello = await captureHello({ servername: HOST, ALPNProtocols: [ACME_TLS_ALPN] });
    // Replay the hello slowly on a raw socket: the router must answer with the challenge's ServerHello.
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const socket = connectTcp({ host: '127.0.0.1', port });
      socket.once('error', reject);
      socket.once('data', (chunk: Buffer) => {
        socket.destroy();
        resolve(chunk);
      });
      void (async () => {
        for (let at = 0; at < hello.length; at += 50) {
          socket.write(hello.subarray(at, at + 50));
          await sleep(10);
        }
      })();
    });
    // A handshake record (22) carrying a ServerHello (2).
    assert.equal(reply[0], 0x16);
    assert.equal(reply[5], 0x02);
  });

  test('plain HTTP on the TLS port and silent clients do not hang the server', async () => {
    const plain = await new Promise<string>((resolve) => {
      const socket = connectTcp({ host: '127.0.0.1', port });
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    assert.doesNotMatch(plain, /registry/);
    const started = Date.now();
    await new Promise<void>((resolve) => {
      const socket = connectTcp({ host: '127.0.0.1', port });
      socket.on('error', () => undefined);
      socket.on('close', () => resolve());
    });
    assert.ok(Date.now() - started < 5000, 'a silent connection is closed after the peek timeout');
  });
});
