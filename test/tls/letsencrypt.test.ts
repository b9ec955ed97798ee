/**
 * `http.tls.letsencrypt` end to end against a real ACME server on loopback: Debian's pebble, with
 * pebble-challtestsrv resolving the registry's host name to 127.0.0.1 and pebble validating by
 * TLS-ALPN-01 on the registry's own port. Berth runs as `berth serve`, trusting pebble's listener
 * via NODE_EXTRA_CA_CERTS as an operator would. It obtains a certificate, serves it with its chain
 * (curl verifies against pebble's root alone), caches it and serves it again after a restart with
 * pebble gone, and renews a cached certificate that is due — with two worker processes sharing
 * the port, so the one that orders is not necessarily the one the validation reaches.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../helpers/tools.js';
import { type Daemon, type Pebble, startBerth, startChallTestSrv, startPebble } from './pebble.js';
import { createPki, type Pki } from './pki.js';
import { curl, handshake } from './probe.js';

const HOST = 'registry.berth.test';
const DAY = 24 * 60 * 60 * 1000;

let work: string;
let pki: Pki;
let port: number;
let dns: { dns: string; daemon: Daemon };
let configPath: string;
let cacheFile: string;
const running: Daemon[] = [];

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-letsencrypt-'));
  pki = await createPki(join(work, 'pki'));
  port = await freePort();
  dns = await startChallTestSrv();
  running.push(dns.daemon);
  cacheFile = join(work, 'acme', 'letsencrypt.json');
  await mkdir(join(work, 'data'));
});

after(async () => {
  await Promise.all(running.map((daemon) => daemon.stop()));
  await rm(work, { recursive: true, force: true });
});

async function pebble(): Promise<Pebble> {
  const started = await startPebble({
    dir: work,
    cert: pki.server.bundle,
    key: pki.server.key,
    ca: pki.root.cert,
    tlsPort: port,
    dns: dns.dns,
  });
  running.push(started.daemon);
  return started;
}

async function writeConfig(directoryUrl: string): Promise<void> {
  configPath = join(work, 'config.yml');
  await writeFile(
    configPath,
    [
      'version: 0.1',
      'log:',
      '  level: debug',
      '  formatter: json',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${JSON.stringify(join(work, 'data'))}`,
      'http:',
      `  addr: 127.0.0.1:${port}`,
      // Two worker processes share the port: the validation may reach either of them.
      '  workers: 2',
      '  tls:',
      '    letsencrypt:',
      `      cachefile: ${JSON.stringify(cacheFile)}`,
      '      email: admin@berth.test',
      `      hosts: [${HOST}]`,
      `      directoryurl: ${directoryUrl}`,
      '',
    ].join('\n'),
  );
}

function berth(): Daemon {
  const daemon = startBerth(configPath, { NODE_EXTRA_CA_CERTS: pki.root.cert });
  running.push(daemon);
  return daemon;
}

/** GET /v2/ at https://HOST:port, verifying the chain against `rootFile` only. */
function get(rootFile: string) {
  return curl(`https://${HOST}:${port}/v2/`, ['--cacert', rootFile, '--resolve', `${HOST}:${port}:127.0.0.1`]);
}

/**
 * Polls until the registry answers 200 over a chain that verifies against `rootFile`, several
 * times in a row: connections go round-robin to the workers, and each must have the certificate.
 */
async function until200(rootFile: string, daemon: Daemon, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  let inARow = 0;
  while (Date.now() < deadline) {
    if (!daemon.alive()) throw new Error(`berth exited:\n${daemon.log()}`);
    const res = await get(rootFile);
    inARow = res.status === 200 ? inARow + 1 : 0;
    if (inARow === 6) return;
    last = `${res.status} ${res.stderr}`;
    await sleep(inARow > 0 ? 20 : 250);
  }
  throw new Error(`no verified answer after ${timeoutMs} ms (${last})\n--- berth ---\n${daemon.log()}`);
}

interface CacheJson {
  certificates: Record<string, { key: string; chain: string }>;
  accounts: Record<string, { key: string; url?: string }>;
}

test('obtains, caches, reuses after a restart and renews a certificate', { timeout: 240_000 }, async () => {
  // 1. First start: nothing cached, the certificate comes from pebble through TLS-ALPN-01.
  const first = await pebble();
  const firstRoot = join(work, 'pebble-root-1.pem');
  await writeFile(firstRoot, await first.root());
  await writeConfig(first.directoryUrl);
  let registry = berth();
  await until200(firstRoot, registry);
  const obtained = await handshake(port, firstRoot, { servername: HOST });
  assert.match(registry.log(), /certificate obtained/);
  const cache = JSON.parse(await readFile(cacheFile, 'utf8')) as CacheJson;
  assert.ok(cache.certificates[HOST]?.chain.includes('BEGIN CERTIFICATE'));
  assert.ok(cache.accounts[first.directoryUrl]?.url, 'the ACME account is cached with its URL');
  assert.equal((await stat(cacheFile)).mode & 0o777, 0o600, 'the cache holds private keys');

  // 2. Restart with pebble gone: the cached certificate is served, nothing is asked for.
  await registry.stop();
  await first.daemon.stop();
  registry = berth();
  await until200(firstRoot, registry, 20_000);
  assert.equal((await handshake(port, firstRoot, { servername: HOST })).serial, obtained.serial);
  assert.match(registry.log(), /certificate loaded from the cache/);
  assert.doesNotMatch(registry.log(), /requesting a certificate/);
  await registry.stop();

  // 3. A cached certificate that is due (30 of 31 days gone) is renewed at start.
  const second = await pebble();
  const secondRoot = join(work, 'pebble-root-2.pem');
  await writeFile(secondRoot, await second.root());
  const due = await pki.issueServerAt('due', [HOST], new Date(Date.now() - 30 * DAY), new Date(Date.now() + DAY));
  cache.certificates[HOST] = { key: await readFile(due.key, 'utf8'), chain: await readFile(due.bundle, 'utf8') };
  await writeFile(cacheFile, JSON.stringify(cache), { mode: 0o600 });
  await writeConfig(second.directoryUrl);
  registry = berth();
  await until200(secondRoot, registry);
  const renewed = await handshake(port, secondRoot, { servername: HOST });
  assert.notEqual(renewed.serial, due.serial);
  const after = JSON.parse(await readFile(cacheFile, 'utf8')) as CacheJson;
  assert.notEqual(
    after.certificates[HOST]?.chain,
    cache.certificates[HOST]?.chain,
    'the renewed certificate is cached',
  );
  await registry.stop();
});
