/**
 * The token key kept in the storage root (generated once, shared, owner-readable only, with a
 * certificate that openssl and Go read), and interoperability with Debian's `docker-registry`
 * (CNCF distribution 2.8): it trusts tokens from Berth's built-in token server given Berth's
 * generated certificate as `rootcertbundle` (so the libtrust key id and token format match what
 * distribution expects), and it accepts the entries `berth htpasswd` writes.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { htpasswdLine } from '../../src/auth/htpasswd.js';
import { libtrustKeyId, loadOrCreateStoredKey, STORED_CERT_PATH, STORED_KEY_PATH } from '../../src/auth/keys.js';
import { createFilesystemDriver } from '../../src/storage/drivers/filesystem.js';
import { createInMemoryDriver } from '../../src/storage/drivers/inmemory.js';
import { createOciLayout, type OciLayout, smallLayers } from '../helpers/images.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { CommandError, type DockerRegistry, run, skopeo, startDockerRegistry } from '../helpers/tools.js';
import { basic, expectStatus, tempDir, writeHtpasswd } from './support.js';

const silent = pino({ level: 'silent' });
const TIMEOUT = { timeout: 180_000 };

describe('the stored token key', () => {
  let work: { dir: string; cleanup(): Promise<void> };
  before(async () => {
    work = await tempDir('berth-token-key-');
  });
  after(() => work.cleanup());

  test('is generated once and then reused, by every instance sharing the storage', async () => {
    const root = join(work.dir, 'root');
    const first = await loadOrCreateStoredKey({
      driver: createFilesystemDriver({ rootdirectory: root }),
      logger: silent,
      filesystemRoot: root,
    });
    const second = await loadOrCreateStoredKey({
      driver: createFilesystemDriver({ rootdirectory: root }),
      logger: silent,
    });
    assert.equal(second.kid, first.kid);
    assert.equal(first.alg, 'ES256');
    assert.match(first.kid, /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    assert.equal(first.kid, libtrustKeyId(first.publicKey));
    const keyFile = join(root, ...STORED_KEY_PATH.split('/'));
    assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
    const certPem = await readFile(join(root, ...STORED_CERT_PATH.split('/')), 'utf8');
    assert.equal(certPem, first.certificatePem);
    const cert = new X509Certificate(certPem);
    assert.ok(cert.verify(cert.publicKey), 'self-signed');
    assert.equal(libtrustKeyId(cert.publicKey), first.kid);
    assert.equal(cert.ca, false);
    assert.ok(Date.parse(cert.validTo) > Date.now() + 9 * 365 * 24 * 3_600_000);
    const { stdout } = await run('openssl', ['x509', '-noout', '-text', '-in', join(root, 'berth', 'token-cert.pem')]);
    assert.match(stdout, /Signature Algorithm: ecdsa-with-SHA256/);
    assert.match(stdout, /Subject: CN\s*=\s*Berth token signer/);
    assert.match(stdout, /Digital Signature/);
    assert.match(stdout, /CA:FALSE/);
  });

  test('works on any storage driver, through the driver', async () => {
    const driver = createInMemoryDriver();
    const key = await loadOrCreateStoredKey({ driver, logger: silent });
    assert.match((await driver.getContent(STORED_KEY_PATH)).toString(), /BEGIN PRIVATE KEY[\s\S]*BEGIN CERTIFICATE/);
    assert.equal((await loadOrCreateStoredKey({ driver, logger: silent })).kid, key.kid);
  });
});

describe('interoperability with registry:2 (docker-registry)', () => {
  let work: { dir: string; cleanup(): Promise<void> };
  let layout: OciLayout;
  let htpasswd: string;
  let berth: TestServer;
  let distribution: DockerRegistry | undefined;

  before(async () => {
    work = await tempDir('berth-auth-compat-');
    layout = await createOciLayout(join(work.dir, 'layout'));
    await layout.addImage({ tag: 'small', layers: smallLayers('compat') });
    htpasswd = join(work.dir, 'htpasswd');
    await writeHtpasswd(htpasswd, { alice: 'alice-pw', bob: 'bob-pw' });
    berth = await startTestServer({
      auth: {
        token: {
          realm: 'https://unused.invalid/auth/token',
          autoredirect: true,
          service: 'shared-service',
          issuer: 'berth-compat',
          server: { htpasswd: { path: htpasswd } },
        },
      },
      access: {
        rules: [
          { repositories: ['**'], actions: ['*'], users: ['alice'] },
          { repositories: ['**'], actions: ['pull'], users: ['bob'] },
        ],
      },
    });
  });
  after(async () => {
    await distribution?.stop();
    await berth.close();
    await work.cleanup();
  });

  test('docker-registry verifies tokens issued by Berth against Berth’s generated certificate', TIMEOUT, async () => {
    const cert = join(berth.rootDir, 'berth', 'token-cert.pem');
    const registry = await startDockerRegistry({
      rootDir: join(work.dir, 'distribution'),
      extraConfig: [
        'auth:',
        '  token:',
        `    realm: ${JSON.stringify(`${berth.url}/auth/token`)}`,
        '    service: shared-service',
        '    issuer: berth-compat',
        `    rootcertbundle: ${JSON.stringify(cert)}`,
      ].join('\n'),
    });
    distribution = registry;
    const ref = `docker://${registry.host}/team/app:v1`;
    try {
      await skopeo('copy', ['--dest-creds', 'alice:alice-pw', layout.ref('small'), ref]);
      const { stdout } = await skopeo('inspect', ['--raw', '--creds', 'bob:bob-pw', ref]);
      assert.equal(JSON.parse(stdout).schemaVersion, 2);
      await assert.rejects(
        skopeo('copy', ['--dest-creds', 'bob:bob-pw', layout.ref('small'), `docker://${registry.host}/team/bob:v1`]),
        (error: unknown) => error instanceof CommandError && /denied|unauthorized/i.test(error.stderr),
      );
    } catch (error) {
      throw new Error(`${String(error)}\n--- docker-registry log ---\n${registry.log().slice(-4000)}`);
    }
  });

  test('docker-registry accepts entries written by berth htpasswd', TIMEOUT, async () => {
    await distribution?.stop();
    const file = join(work.dir, 'for-distribution');
    await writeFile(file, `${await htpasswdLine('carol', 'carol-pw', 5)}\n`);
    const registry = await startDockerRegistry({
      rootDir: join(work.dir, 'distribution-basic'),
      extraConfig: ['auth:', '  htpasswd:', '    realm: compat', `    path: ${JSON.stringify(file)}`].join('\n'),
    });
    distribution = registry;
    const ok = await fetch(`${registry.url}/v2/`, { headers: { Authorization: basic('carol', 'carol-pw') } });
    await expectStatus(ok, 200, 'right password at registry:2');
    const wrong = await fetch(`${registry.url}/v2/`, { headers: { Authorization: basic('carol', 'nope') } });
    await expectStatus(wrong, 401, 'wrong password at registry:2');
  });
});
