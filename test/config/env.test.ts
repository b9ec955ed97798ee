import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import { parseConfig } from '../../src/config/load.js';

const FILE = `version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: /from/file
  delete:
    enabled: false
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
`;

function load(env: Record<string, string>, yaml = FILE) {
  return parseConfig(yaml, { env });
}

describe('REGISTRY_* environment overlay', () => {
  it('sets nested keys, env winning over the file', () => {
    const { config } = load({
      REGISTRY_HTTP_ADDR: '127.0.0.1:6000',
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/from/env',
    });
    assert.equal(config.http.addr, '127.0.0.1:6000');
    assert.equal(config.storage.filesystem?.rootdirectory, '/from/env');
  });

  it('creates sections the file does not have', () => {
    const { config } = load({
      REGISTRY_HTTP_HOST: 'https://r.example',
      REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED: 'true',
    });
    assert.equal(config.http.host, 'https://r.example');
    assert.equal(config.storage.maintenance.readonly.enabled, true);
  });

  it('decodes values as YAML: booleans, numbers, lists, durations', () => {
    const { config } = load({
      REGISTRY_STORAGE_DELETE_ENABLED: 'true',
      REGISTRY_HTTP_RELATIVEURLS: 'yes',
      REGISTRY_STORAGE_FILESYSTEM_MAXTHREADS: '50',
      REGISTRY_HTTP_DRAINTIMEOUT: '45s',
      REGISTRY_VALIDATION_MANIFESTS_URLS_ALLOW: "['^https?://example\\.com/']",
      REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_ENABLED: 'false',
    });
    assert.equal(config.storage.delete.enabled, true);
    assert.equal(config.http.relativeurls, true);
    assert.equal(config.storage.filesystem?.maxthreads, 50);
    assert.equal(config.http.draintimeout, 45_000);
    assert.deepEqual(config.validation?.manifests?.urls?.allow, ['^https?://example\\.com/']);
    assert.equal(config.storage.maintenance.uploadpurging.enabled, false);
  });

  it('keeps the text of string fields even when it looks like a number or boolean', () => {
    const { config } = load({
      REGISTRY_HTTP_SECRET: '0x1F',
      REGISTRY_REDIS_PASSWORD: 'on',
      REGISTRY_HTTP_PREFIX: '"/quoted/"',
    });
    assert.equal(config.http.secret, '0x1F');
    assert.equal(config.redis?.password, 'on');
    assert.equal(config.http.prefix, '/quoted/');
  });

  it('matches names case-insensitively', () => {
    const { config } = load({ registry_http_addr: ':7000', REGISTRY_Log_Level: 'debug' });
    assert.equal(config.http.addr, ':7000');
    assert.equal(config.log.level, 'debug');
  });

  it('takes the rest of the name as the key of free-form maps', () => {
    const { config } = load({
      REGISTRY_LOG_FIELDS_ENVIRONMENT: 'staging',
      REGISTRY_LOG_FIELDS_SERVICE_NAME: 'berth',
      REGISTRY_LOG_FIELDS_SERVICE: 'overridden',
      'REGISTRY_HTTP_HEADERS_X-FRAME-OPTIONS': 'DENY',
      'REGISTRY_HTTP_HEADERS_X-CONTENT-TYPE-OPTIONS': '[nosniff, other]',
    });
    assert.deepEqual(config.log.fields, { service: 'overridden', environment: 'staging', service_name: 'berth' });
    assert.deepEqual(config.http.headers, {
      'X-Content-Type-Options': ['nosniff', 'other'],
      'x-frame-options': ['DENY'],
    });
  });

  it('selects the storage driver with REGISTRY_STORAGE, keeping the storage tuning keys', () => {
    const { config } = load({
      REGISTRY_STORAGE: 's3',
      REGISTRY_STORAGE_S3_BUCKET: 'images',
      REGISTRY_STORAGE_S3_REGION: 'eu-west-1',
      REGISTRY_STORAGE_DELETE_ENABLED: 'true',
    });
    assert.equal(config.storage.filesystem, undefined);
    assert.deepEqual(config.storage.s3, { bucket: 'images', region: 'eu-west-1' });
    assert.equal(config.storage.delete.enabled, true);
  });

  it('keeps the parameters of the driver REGISTRY_STORAGE names when the file already has it', () => {
    const { config } = load({ REGISTRY_STORAGE: 'filesystem' });
    assert.equal(config.storage.filesystem?.rootdirectory, '/from/file');
  });

  it('works on a file that names the driver as a bare string', () => {
    const { config } = load({ REGISTRY_STORAGE_DELETE_ENABLED: 'true' }, 'version: 0.1\nstorage: inmemory\n');
    assert.deepEqual(config.storage.inmemory, {});
    assert.equal(config.storage.delete.enabled, true);
  });

  it('fails like distribution when a second driver is added without REGISTRY_STORAGE', () => {
    assert.throws(
      () => load({ REGISTRY_STORAGE_S3_BUCKET: 'images' }),
      (err: unknown) =>
        err instanceof ConfigError && /^storage: must configure exactly one/.test(err.problems[0] ?? ''),
    );
  });

  it('selects the auth type with REGISTRY_AUTH', () => {
    const { config, notSupportedYet } = load({
      REGISTRY_AUTH: 'htpasswd',
      REGISTRY_AUTH_HTPASSWD_REALM: 'Registry Realm',
      REGISTRY_AUTH_HTPASSWD_PATH: '/auth/htpasswd',
    });
    assert.deepEqual(config.auth?.htpasswd, { realm: 'Registry Realm', path: '/auth/htpasswd' });
    assert.ok(!notSupportedYet.includes('auth.htpasswd'), 'auth.htpasswd is supported');
  });

  it('accepts distribution Go field names that differ from the YAML keys', () => {
    const { config } = load({
      REGISTRY_NOTIFICATIONS_EVENTCONFIG_INCLUDEREFERENCES: 'true',
      REGISTRY_COMPATIBILITY_SCHEMA1_TRUSTKEY: '/key.json',
    });
    assert.equal(config.notifications?.events?.includereferences, true);
    assert.equal(config.compatibility?.schema1?.signingkeyfile, '/key.json');
  });

  it('replaces whole lists given as YAML', () => {
    const { config } = load({
      REGISTRY_NOTIFICATIONS_ENDPOINTS: '[{name: hook, url: "http://hook.example/events", timeout: 2s}]',
    });
    assert.equal(config.notifications?.endpoints?.[0]?.url, 'http://hook.example/events');
    assert.equal(config.notifications?.endpoints?.[0]?.timeout, 2000);
  });

  it('maps the deprecated REGISTRY_LOGLEVEL onto log.level when the file sets none', () => {
    const { config, warnings } = load({ REGISTRY_LOGLEVEL: 'debug' }, 'version: 0.1\nstorage: inmemory\n');
    assert.equal(config.log.level, 'debug');
    assert.ok(warnings.includes('loglevel is deprecated, use log.level'));
  });

  it('warns about variables that name no key, and does not overlay REGISTRY_CONFIGURATION_PATH', () => {
    const { warnings } = load({
      REGISTRY_NOPE: 'x',
      REGISTRY_HTTP_NOPE: 'x',
      REGISTRY_HTTP_ADDR_PORT: 'x',
      REGISTRY_NOTIFICATIONS_ENDPOINTS_0_URL: 'x',
      REGISTRY_CONFIGURATION_PATH: '/etc/x.yml',
      OTHER_VAR: 'x',
    });
    assert.deepEqual(warnings.sort(), [
      'ignoring environment variable REGISTRY_NOTIFICATIONS_ENDPOINTS_0_URL: list elements cannot be set one by one',
      'ignoring unrecognized environment variable REGISTRY_HTTP_ADDR_PORT',
      'ignoring unrecognized environment variable REGISTRY_HTTP_NOPE',
      'ignoring unrecognized environment variable REGISTRY_NOPE',
    ]);
  });

  it('stops with an error naming the variable when its value is not YAML', () => {
    assert.throws(
      () => load({ REGISTRY_STORAGE_DELETE_ENABLED: '[true' }),
      (err: unknown) =>
        err instanceof ConfigError &&
        (err.problems[0] ?? '').startsWith('REGISTRY_STORAGE_DELETE_ENABLED: value is not valid YAML'),
    );
  });

  it('reports type errors from the environment by key path', () => {
    assert.throws(
      () => load({ REGISTRY_STORAGE_DELETE_ENABLED: 'maybe' }),
      (err: unknown) =>
        err instanceof ConfigError && /^storage\.delete\.enabled: expected boolean/.test(err.problems[0] ?? ''),
    );
  });
});
