import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { useTempDir } from '../helpers/temp-dir.js';
import { runCli } from './run-cli.js';

const temp = useTempDir('berth-config-check-');
const { file } = temp;

const VALID = `version: 0.1
log:
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: /var/lib/registry
    colour: blue
  cache:
    blobdescriptor: inmemory
http:
  addr: :5000
  secret: super-secret-value
  headers:
    X-Content-Type-Options: [nosniff]
redis:
  addr: redis:6379
  password: redis-password-value
compatibility:
  schema1:
    enabled: false
`;

describe('berth config check', () => {
  it('prints the effective configuration, secrets redacted, and the warnings', async () => {
    const path = await file('valid.yml', VALID);
    const { code, stdout, stderr } = await runCli(['config', 'check', path], {
      env: { REGISTRY_STORAGE_DELETE_ENABLED: 'true' },
    });
    assert.equal(code, 0, stderr);
    const printed = parse(stdout) as {
      version: string;
      http: { addr: string; secret: string };
      redis: { password: string };
      storage: { delete: { enabled: boolean }; maintenance: { uploadpurging: { age: string } } };
      log: { level: string; fields: Record<string, unknown> };
    };
    assert.equal(printed.version, '0.1');
    assert.equal(printed.http.addr, ':5000');
    assert.equal(printed.http.secret, '<redacted>');
    assert.equal(printed.redis.password, '<redacted>');
    assert.equal(printed.storage.delete.enabled, true, 'the REGISTRY_* overlay applies');
    assert.equal(printed.storage.maintenance.uploadpurging.age, '168h0m0s');
    assert.equal(printed.log.level, 'info');
    assert.deepEqual(printed.log.fields, { service: 'registry' });
    assert.ok(!stdout.includes('super-secret-value') && !stdout.includes('redis-password-value'));
    assert.ok(!stderr.includes('super-secret-value') && !stderr.includes('redis-password-value'));
    assert.deepEqual(stderr.trim().split('\n'), [
      'warning: unknown key storage.filesystem.colour',
      'warning: compatibility.schema1 is not supported yet and is ignored',
    ]);
  });

  it('prints output that is itself a valid configuration', async () => {
    const first = await runCli(['config', 'check', await file('round-1.yml', VALID)]);
    assert.equal(first.code, 0, first.stderr);
    const second = await runCli(['config', 'check', await file('round-2.yml', first.stdout)]);
    assert.equal(second.code, 0, second.stderr);
    // The redacted secrets print as "<redacted>", which is itself a valid value.
    assert.equal(second.stdout, first.stdout);
  });

  it('exits 1 and names every invalid key', async () => {
    const path = await file(
      'invalid.yml',
      'version: 0.1\nstorage:\n  inmemory:\nhttp:\n  addr: [1]\nlog:\n  level: loud\n',
    );
    const { code, stdout, stderr } = await runCli(['config', 'check', path]);
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.match(
      stderr,
      new RegExp(`^error: invalid configuration \\(${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\):$`, 'm'),
    );
    assert.match(stderr, /^ {2}http\.addr: expected string, got a list$/m);
    assert.match(stderr, /^ {2}log\.level: expected one of "error", "warn", "info", "debug", got string "loud"$/m);
  });

  it('exits 1 for a bad REGISTRY_* value', async () => {
    const path = await file('env.yml', VALID);
    const { code, stderr } = await runCli(['config', 'check', path], {
      env: { REGISTRY_HTTP_RELATIVEURLS: 'perhaps' },
    });
    assert.equal(code, 1);
    assert.match(stderr, /http\.relativeurls: expected boolean, got string "perhaps"/);
  });

  it('exits 1 for a missing file', async () => {
    const { code, stderr } = await runCli(['config', 'check', temp.path('nope.yml')]);
    assert.equal(code, 1);
    assert.match(stderr, /cannot read configuration file: no such file/);
  });

  it('requires the file argument', async () => {
    const { code, stderr } = await runCli(['config', 'check']);
    assert.equal(code, 1);
    assert.match(stderr, /missing required argument 'file'/);
  });
});
