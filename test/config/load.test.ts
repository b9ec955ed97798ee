import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_CONFIG_SOURCE } from '../../src/config/default.js';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfig, parseConfig } from '../../src/config/load.js';
import { useTempDir } from '../helpers/temp-dir.js';

const temp = useTempDir('berth-config-');
const { file } = temp;

describe('loadConfig', () => {
  it('reads a file and applies the environment over it', async () => {
    const path = await file('a.yml', 'version: 0.1\nstorage:\n  inmemory:\nhttp:\n  addr: :5000\n');
    const { config, source, warnings } = loadConfig({ file: path, env: { REGISTRY_HTTP_ADDR: ':6000' } });
    assert.equal(source, path);
    assert.equal(config.http.addr, ':6000');
    assert.deepEqual(warnings, []);
  });

  it('falls back to REGISTRY_CONFIGURATION_PATH', async () => {
    const path = await file('b.yml', 'version: 0.1\nstorage: inmemory\nhttp:\n  addr: :5999\n');
    const { config, source } = loadConfig({ env: { REGISTRY_CONFIGURATION_PATH: path } });
    assert.equal(source, path);
    assert.equal(config.http.addr, ':5999');
  });

  it('prefers an explicit file over REGISTRY_CONFIGURATION_PATH', async () => {
    const a = await file('c1.yml', 'version: 0.1\nstorage: inmemory\nhttp:\n  addr: :1111\n');
    const b = await file('c2.yml', 'version: 0.1\nstorage: inmemory\nhttp:\n  addr: :2222\n');
    assert.equal(loadConfig({ file: a, env: { REGISTRY_CONFIGURATION_PATH: b } }).config.http.addr, ':1111');
  });

  it('uses the embedded default, as registry:2 ships it, when given nothing', () => {
    const { config, source, warnings, notSupportedYet } = loadConfig({ env: {} });
    assert.equal(source, DEFAULT_CONFIG_SOURCE);
    assert.equal(config.version, '0.1');
    assert.equal(config.http.addr, ':5000');
    assert.deepEqual(config.storage.filesystem, { rootdirectory: './data', maxthreads: 100 });
    assert.equal(config.storage.delete.enabled, false);
    assert.equal(config.log.level, 'info');
    assert.deepEqual(config.http.headers, { 'X-Content-Type-Options': ['nosniff'] });
    assert.deepEqual(warnings, []);
    assert.deepEqual(notSupportedYet, []);
  });

  it('still applies the environment to the embedded default', () => {
    const { config } = loadConfig({ env: { REGISTRY_STORAGE: 'inmemory', REGISTRY_HTTP_ADDR: '127.0.0.1:0' } });
    assert.equal(config.storage.filesystem, undefined);
    assert.deepEqual(config.storage.inmemory, {});
    assert.equal(config.http.addr, '127.0.0.1:0');
  });

  it('fails with a ConfigError for a missing file', () => {
    const path = temp.path('missing.yml');
    assert.throws(
      () => loadConfig({ file: path, env: {} }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.source === path &&
        err.problems[0] === 'cannot read configuration file: no such file',
    );
  });
});

describe('unknown and unsupported keys', () => {
  it('warns about unknown keys at any depth without failing', () => {
    const { warnings, config } = parseConfig(
      [
        'version: 0.1',
        'colour: blue',
        'storage:',
        '  filesystem:',
        '    rootdirectory: /x',
        '    foo: 1',
        '  swift: {}',
        'http:',
        '  addr: :5000',
        '  tls:',
        '    certificate: /c',
        '    extra: true',
        'notifications:',
        '  endpoints:',
        '    - name: a',
        '      url: http://a',
        '      bogus: 1',
        '',
      ].join('\n'),
      { env: {} },
    );
    assert.deepEqual(warnings, [
      'unknown key colour',
      'unknown key storage.filesystem.foo',
      'unknown key storage.swift',
      'unknown key http.tls.extra',
      'unknown key notifications.endpoints[0].bogus',
    ]);
    assert.equal((config as unknown as Record<string, unknown>)['colour'], undefined);
  });

  it('lists keys Berth does not act on yet, instead of ignoring them silently', () => {
    const { notSupportedYet } = parseConfig(
      [
        'version: 0.1',
        'storage:',
        '  s3:',
        '    bucket: b',
        '  cache:',
        '    blobdescriptor: inmemory',
        'auth:',
        '  htpasswd:',
        '    realm: r',
        '    path: /p',
        'http:',
        '  addr: :5000',
        '  tls:',
        '    certificate: /c',
        'redis:',
        '  addr: r:6379',
        'proxy:',
        '  remoteurl: https://registry-1.docker.io',
        'notifications:',
        '  endpoints: []',
        '',
      ].join('\n'),
    );
    assert.deepEqual(notSupportedYet, ['proxy']);
  });

  it('keeps the source text of YAML scalars in string fields, as Go does', () => {
    const { config } = parseConfig(
      'version: 0.1\nstorage: inmemory\nhttp:\n  secret: 0x1F\nredis:\n  password: on\n  db: 3\n',
    );
    assert.equal(config.http.secret, '0x1F');
    assert.equal(config.redis?.password, 'on');
    assert.equal(config.redis?.db, 3);
  });
});
