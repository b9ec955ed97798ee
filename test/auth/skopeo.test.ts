/**
 * skopeo against a secured Berth: `--creds`, `--src-creds` and `--dest-creds` with htpasswd
 * Basic auth (anonymous pull, authenticated push, a read-only user refused), and with the
 * built-in token server, which skopeo reaches by following the Bearer challenge exactly as
 * docker does.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type BuiltImage, createOciLayout, type OciLayout, smallLayers } from '../helpers/images.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { CommandError, inspectRaw, skopeo } from '../helpers/tools.js';
import { capturingLogger, tempDir, writeHtpasswd } from './support.js';

const TIMEOUT = { timeout: 180_000 };

const RULES = {
  rules: [
    { repositories: ['public/**'], actions: ['pull'], anonymous: true },
    { repositories: ['**'], actions: ['*'], users: ['alice'] },
    { repositories: ['**'], actions: ['pull'], users: ['bob'] },
  ],
};

function host(server: TestServer): string {
  return new URL(server.url).host;
}

async function rejectsWith(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof CommandError, String(error));
    assert.match(error.stderr, pattern);
    return true;
  });
}

describe('skopeo with credentials', () => {
  let work: { dir: string; cleanup(): Promise<void> };
  let layout: OciLayout;
  let image: BuiltImage;
  let htpasswd: string;

  before(async () => {
    work = await tempDir('berth-skopeo-auth-');
    layout = await createOciLayout(join(work.dir, 'layout'));
    image = await layout.addImage({ tag: 'small', layers: smallLayers('auth') });
    htpasswd = join(work.dir, 'htpasswd');
    await writeHtpasswd(htpasswd, { alice: 'alice-pw', bob: 'bob-pw' });
  });
  after(() => work.cleanup());

  describe('htpasswd (Basic)', () => {
    let server: TestServer;
    let log: ReturnType<typeof capturingLogger>;
    before(async () => {
      log = capturingLogger();
      server = await startTestServer(
        {
          auth: { htpasswd: { realm: 'berth', path: htpasswd } },
          access: RULES,
          log: { accesslog: { disabled: false } },
        },
        { logger: log.logger },
      );
    });
    after(() => server.close());

    test('push with --dest-creds, inspect with --creds, copy between repositories with both', TIMEOUT, async () => {
      const ref = `docker://${host(server)}/public/app:v1`;
      await skopeo('copy', ['--dest-creds', 'alice:alice-pw', layout.ref('small'), ref]);
      const { stdout } = await skopeo('inspect', ['--raw', '--creds', 'bob:bob-pw', ref]);
      assert.equal(JSON.parse(stdout).config.digest, image.config.digest);
      await skopeo('copy', [
        '--src-creds',
        'bob:bob-pw',
        '--dest-creds',
        'alice:alice-pw',
        ref,
        `docker://${host(server)}/private/app:v1`,
      ]);
      assert.ok(log.lines.some((l) => l['msg'] === 'request' && l['user'] === 'alice' && l['method'] === 'PUT'));
    });

    test('anonymous pulls of public repositories work; private ones and wrong passwords do not', TIMEOUT, async () => {
      await skopeo('copy', [
        '--dest-creds',
        'alice:alice-pw',
        layout.ref('small'),
        `docker://${host(server)}/public/anon:v1`,
      ]);
      const served = await inspectRaw(`docker://${host(server)}/public/anon:v1`);
      assert.equal(served.digest, image.manifest.digest);
      await skopeo('copy', [
        '--dest-creds',
        'alice:alice-pw',
        layout.ref('small'),
        `docker://${host(server)}/private/x:v1`,
      ]);
      await rejectsWith(
        skopeo('inspect', ['--no-creds', `docker://${host(server)}/private/x:v1`]),
        /unauthorized|authentication required/i,
      );
      await rejectsWith(
        skopeo('inspect', ['--creds', 'alice:wrong', `docker://${host(server)}/private/x:v1`]),
        /unauthorized|authentication required|invalid user name or password/i,
      );
    });

    test('a read-only user cannot push', TIMEOUT, async () => {
      await rejectsWith(
        skopeo('copy', ['--dest-creds', 'bob:bob-pw', layout.ref('small'), `docker://${host(server)}/bob/app:v1`]),
        /denied/i,
      );
    });
  });

  describe('the built-in token server (Bearer)', () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({
        auth: {
          token: {
            realm: 'https://unused.invalid/auth/token',
            autoredirect: true,
            service: 'berth-skopeo',
            issuer: 'berth-skopeo-issuer',
            server: { htpasswd: { path: htpasswd } },
          },
        },
        access: RULES,
      });
    });
    after(() => server.close());

    test('skopeo follows the challenge to /auth/token for push and pull', TIMEOUT, async () => {
      const ref = `docker://${host(server)}/public/tok:v1`;
      await skopeo('copy', ['--dest-creds', 'alice:alice-pw', layout.ref('small'), ref]);
      const { stdout } = await skopeo('inspect', ['--raw', '--creds', 'bob:bob-pw', ref]);
      assert.equal(JSON.parse(stdout).config.digest, image.config.digest);
      const anonymous = await skopeo('inspect', ['--raw', '--no-creds', ref]);
      assert.equal(JSON.parse(anonymous.stdout).config.digest, image.config.digest);
      const copy = `docker://${host(server)}/private/tok:v2`;
      await skopeo('copy', ['--src-creds', 'bob:bob-pw', '--dest-creds', 'alice:alice-pw', ref, copy]);
      const tags = await skopeo('list-tags', ['--creds', 'bob:bob-pw', `docker://${host(server)}/private/tok`]);
      assert.deepEqual(JSON.parse(tags.stdout).Tags, ['v2']);
    });

    test('denied pushes, private pulls without credentials and wrong passwords fail', TIMEOUT, async () => {
      await rejectsWith(
        skopeo('copy', ['--dest-creds', 'bob:bob-pw', layout.ref('small'), `docker://${host(server)}/bob/tok:v1`]),
        /denied|unauthorized/i,
      );
      await skopeo('copy', [
        '--dest-creds',
        'alice:alice-pw',
        layout.ref('small'),
        `docker://${host(server)}/private/y:v1`,
      ]);
      await rejectsWith(
        skopeo('inspect', ['--no-creds', `docker://${host(server)}/private/y:v1`]),
        /denied|unauthorized|authentication required/i,
      );
      await rejectsWith(
        skopeo('inspect', ['--creds', 'alice:nope', `docker://${host(server)}/private/y:v1`]),
        /unauthorized|invalid user name or password|authentication required/i,
      );
    });
  });
});
