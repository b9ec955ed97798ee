/**
 * `http.tls.letsencrypt` without an ACME server in reach: certificates already in `cachefile`
 * are served at once (by name, and to clients that send no name), a directory as `cachefile`
 * holds Berth's file inside it, and a certificate due for renewal keeps serving while renewal
 * fails and is retried. The full issuance flow against a real ACME server is letsencrypt.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createPki, type Pki, type ServerLeaf } from './pki.js';
import { handshake } from './probe.js';

const HOST = 'registry.berth.test';
const DAY = 24 * 60 * 60 * 1000;

let work: string;
let pki: Pki;
/** An HTTP server that is no ACME directory: every request gets 404, so a certificate request fails at once. */
let notAcme: Server;
let directoryurl: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-acme-cache-'));
  pki = await createPki(join(work, 'pki'));
  notAcme = createServer((_req, res) => {
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => notAcme.listen(0, '127.0.0.1', resolve));
  directoryurl = `http://127.0.0.1:${(notAcme.address() as AddressInfo).port}/directory`;
});

after(async () => {
  await new Promise((resolve) => notAcme?.close(resolve));
  await rm(work, { recursive: true, force: true });
});

/** A cache file as Berth writes it, holding `leaf` for HOST. */
async function cacheWith(leaf: ServerLeaf): Promise<string> {
  return `${JSON.stringify({
    version: 1,
    accounts: {},
    certificates: { [HOST]: { key: await readFile(leaf.key, 'utf8'), chain: await readFile(leaf.bundle, 'utf8') } },
  })}\n`;
}

/** A logger whose lines the test can read. */
function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

async function startWithCache(cachefile: string, logger = pino({ level: 'silent' })): Promise<TestServer> {
  return startTestServer({ http: { tls: { letsencrypt: { cachefile, hosts: [HOST], directoryurl } } } }, { logger });
}

test('a cached certificate is served at start, by name and to clients without one', async () => {
  const leaf = await pki.issueServerAt('cached', [HOST], new Date(Date.now() - DAY), new Date(Date.now() + 80 * DAY));
  const cachefile = join(work, 'cache-a', 'acme.json');
  await mkdir(join(work, 'cache-a'));
  await writeFile(cachefile, await cacheWith(leaf), { mode: 0o600 });
  const { logger, lines } = capturingLogger();
  const server = await startWithCache(cachefile, logger);
  try {
    assert.equal((await handshake(server.port, pki.root.cert, { servername: HOST })).serial, leaf.serial);
    const noName = await handshake(server.port, pki.root.cert, {
      servername: '',
      checkServerIdentity: () => undefined,
    });
    assert.equal(noName.serial, leaf.serial);
    await sleep(200);
    assert.ok(!lines.some((l) => l['msg'] === 'requesting a certificate'), 'a fresh certificate is not renewed');
  } finally {
    await server.close();
  }
});

test('a directory as cachefile keeps berth-acme.json inside it', async () => {
  const leaf = await pki.issueServerAt('in-dir', [HOST], new Date(Date.now() - DAY), new Date(Date.now() + 80 * DAY));
  const dir = join(work, 'cache-dir');
  await mkdir(dir);
  await writeFile(join(dir, 'berth-acme.json'), await cacheWith(leaf));
  const server = await startWithCache(dir);
  try {
    assert.equal((await handshake(server.port, pki.root.cert, { servername: HOST })).serial, leaf.serial);
  } finally {
    await server.close();
  }
});

test('a certificate due for renewal keeps serving while renewal fails', async () => {
  // 30 days of 31 gone: renewal is due.
  const leaf = await pki.issueServerAt('due', [HOST], new Date(Date.now() - 30 * DAY), new Date(Date.now() + DAY));
  const cachefile = join(work, 'due.json');
  const cached = await cacheWith(leaf);
  await writeFile(cachefile, cached);
  const { logger, lines } = capturingLogger();
  const server = await startWithCache(cachefile, logger);
  try {
    const deadline = Date.now() + 10_000;
    while (!lines.some((l) => l['msg'] === 'could not obtain a certificate') && Date.now() < deadline) await sleep(50);
    const failure = lines.find((l) => l['msg'] === 'could not obtain a certificate');
    assert.ok(failure, 'the renewal was attempted and its failure logged');
    assert.equal(failure['host'], HOST);
    assert.ok(Number(failure['retryInMs']) > 0);
    assert.equal((await handshake(server.port, pki.root.cert, { servername: HOST })).serial, leaf.serial);
    assert.equal(await readFile(cachefile, 'utf8'), cached, 'a failed renewal leaves the cache as it was');
  } finally {
    await server.close();
  }
});

test('a cache file in another format is reported and replaced only once there is something to save', async () => {
  const cachefile = join(work, 'foreign.json');
  await writeFile(cachefile, '{"Account":{"Email":"x"},"Certs":{}}');
  const { logger, lines } = capturingLogger();
  const server = await startWithCache(cachefile, logger);
  try {
    assert.ok(lines.some((l) => String(l['msg']).includes('not in Berth format')));
    assert.equal(await readFile(cachefile, 'utf8'), '{"Account":{"Email":"x"},"Certs":{}}');
    assert.equal((await stat(cachefile)).isFile(), true);
  } finally {
    await server.close();
  }
});
