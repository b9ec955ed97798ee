import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import { parseConfig, validateConfig } from '../../src/config/load.js';

/** The problems a configuration is rejected with; fails the test if it is accepted. */
function problems(yaml: string): readonly string[] {
  try {
    parseConfig(yaml);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('configuration was accepted');
}

const MINIMAL = 'version: 0.1\nstorage:\n  inmemory:\n';

describe('config schema defaults', () => {
  it('fills distribution defaults into a minimal configuration', () => {
    const { config } = parseConfig(MINIMAL);
    assert.equal(config.version, '0.1');
    assert.equal(config.http.addr, ':5000');
    assert.equal(config.http.relativeurls, false);
    assert.equal(config.http.host, undefined);
    assert.equal(config.http.prefix, undefined);
    assert.equal(config.http.secret, undefined);
    assert.deepEqual(config.storage.inmemory, {});
    assert.equal(config.storage.filesystem, undefined);
    assert.equal(config.storage.delete.enabled, false);
    assert.equal(config.storage.redirect.disable, false);
    assert.equal(config.storage.maintenance.readonly.enabled, false);
    assert.deepEqual(config.storage.maintenance.uploadpurging, {
      enabled: true,
      age: 168 * 3600_000,
      interval: 24 * 3600_000,
      dryrun: false,
    });
    assert.equal(config.log.level, 'info');
    assert.equal(config.log.formatter, 'text');
    assert.equal(config.log.fields, undefined);
    assert.equal(config.log.accesslog.disabled, false);
    for (const key of ['auth', 'notifications', 'redis', 'health', 'proxy', 'validation', 'compatibility'] as const) {
      assert.equal(config[key], undefined, key);
    }
  });

  it('defaults the filesystem root directory like distribution', () => {
    const { config } = parseConfig('version: 0.1\nstorage:\n  filesystem:\n');
    assert.deepEqual(config.storage.filesystem, { rootdirectory: '/var/lib/registry', maxthreads: 100 });
  });

  it('is usable on its own with validateConfig', () => {
    const config = validateConfig({ version: '0.1', storage: 'inmemory', loglevel: 'debug' });
    assert.deepEqual(config.storage.inmemory, {});
    assert.equal(config.log.level, 'debug');
  });

  it('accepts `storage: inmemory` and `auth: <type>` as bare names', () => {
    const { config } = parseConfig('version: 0.1\nstorage: inmemory\n');
    assert.deepEqual(config.storage.inmemory, {});
  });

  it('turns durations into milliseconds, and bare integers as nanoseconds like Go', () => {
    const { config } = parseConfig(
      `${MINIMAL}http:\n  draintimeout: 1m30s\nproxy:\n  remoteurl: https://r.example\n  ttl: 2000000\n`,
    );
    assert.equal(config.http.draintimeout, 90_000);
    assert.equal(config.proxy?.ttl, 2);
  });

  it('keeps log.level case-insensitive and honours the deprecated loglevel', () => {
    assert.equal(parseConfig(`${MINIMAL}log:\n  level: DEBUG\n`).config.log.level, 'debug');
    const { config, warnings } = parseConfig(`${MINIMAL}loglevel: warn\n`);
    assert.equal(config.log.level, 'warn');
    assert.ok(warnings.includes('loglevel is deprecated, use log.level'), warnings.join('; '));
    assert.equal(parseConfig(`${MINIMAL}loglevel: warn\nlog:\n  level: error\n`).config.log.level, 'error');
  });

  it('reads `version: 0.1` (a YAML float) as the string "0.1"', () => {
    assert.equal(parseConfig(MINIMAL).config.version, '0.1');
  });
});

describe('config schema errors name the key', () => {
  const cases: [string, string, RegExp][] = [
    ['http.addr', `${MINIMAL}http:\n  addr: [":5000"]\n`, /^http\.addr: expected string, got a list$/],
    ['http.relativeurls', `${MINIMAL}http:\n  relativeurls: sometimes\n`, /^http\.relativeurls: expected boolean/],
    ['http.host', `${MINIMAL}http:\n  host: not a url\n`, /^http\.host: expected an absolute URL/],
    ['log.level', `${MINIMAL}log:\n  level: loud\n`, /^log\.level: expected one of "error", "warn", "info", "debug"/],
    [
      'log.formatter',
      `${MINIMAL}log:\n  formatter: xml\n`,
      /^log\.formatter: expected one of "text", "json", "logfmt"/,
    ],
    [
      'storage.delete.enabled',
      `${MINIMAL}  delete:\n    enabled: 3\n`,
      /^storage\.delete\.enabled: expected boolean, got number 3$/,
    ],
    [
      'storage.filesystem.maxthreads',
      'version: 0.1\nstorage:\n  filesystem:\n    maxthreads: 5\n',
      /^storage\.filesystem\.maxthreads: must be at least 25/,
    ],
    [
      'storage.maintenance.uploadpurging.age',
      `${MINIMAL}  maintenance:\n    uploadpurging:\n      age: 1 week\n`,
      /^storage\.maintenance\.uploadpurging\.age: expected a Go duration/,
    ],
    ['version', 'storage:\n  inmemory:\n', /^version: required/],
    ['version', 'version: 0.2\nstorage:\n  inmemory:\n', /^version: unsupported configuration version/],
    [
      'notifications.endpoints[0].url',
      `${MINIMAL}notifications:\n  endpoints:\n    - name: hook\n`,
      /^notifications\.endpoints\[0\]\.url: required/,
    ],
    [
      'storage (none)',
      'version: 0.1\nstorage:\n  delete:\n    enabled: true\n',
      /^storage: no storage driver configured/,
    ],
    ['storage (missing)', 'version: 0.1\n', /^storage: /],
    [
      'storage (two)',
      'version: 0.1\nstorage:\n  inmemory:\n  filesystem:\n',
      /^storage: must configure exactly one storage driver, got filesystem, inmemory/,
    ],
    [
      'auth (two)',
      `${MINIMAL}auth:\n  htpasswd:\n    realm: r\n    path: /p\n  silly:\n    realm: r\n    service: s\n`,
      /^auth: must configure exactly one auth type/,
    ],
    ['auth.htpasswd.path', `${MINIMAL}auth:\n  htpasswd:\n    realm: r\n`, /^auth\.htpasswd\.path: required/],
  ];
  for (const [name, yaml, expected] of cases) {
    it(name, () => {
      const found = problems(yaml);
      assert.ok(
        found.some((p) => expected.test(p)),
        `expected a problem matching ${expected}, got:\n${found.join('\n')}`,
      );
    });
  }

  it('reports every problem at once', () => {
    const found = problems('version: 0.1\nstorage:\n  inmemory:\nhttp:\n  addr: {}\nlog:\n  level: loud\n');
    assert.equal(found.length, 2, found.join('\n'));
  });

  it('rejects YAML that is not a mapping, and broken YAML', () => {
    assert.match(problems('- a\n- b\n')[0] ?? '', /expected a YAML mapping/);
    assert.match(problems('version: 0.1\nstorage: [\n')[0] ?? '', /^YAML: /);
    assert.match(problems('version: 0.1\nversion: 0.1\nstorage: inmemory\n')[0] ?? '', /^YAML: .*unique/i);
  });

  it('wraps problems in a ConfigError whose message names the source', () => {
    assert.throws(
      () => parseConfig('version: 0.1\n', { source: '/etc/berth.yml' }),
      (err: unknown) => err instanceof ConfigError && err.message.startsWith('invalid configuration (/etc/berth.yml)'),
    );
  });
});
