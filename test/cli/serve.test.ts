import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { useTempDir } from '../helpers/temp-dir.js';
import { runCli, startCli } from './run-cli.js';

const temp = useTempDir('berth-serve-');

interface LogLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

function json(line: string): LogLine {
  return JSON.parse(line) as LogLine;
}

describe('berth serve', () => {
  it('serves with a config file, logs unsupported keys, and stops cleanly on SIGTERM', {
    timeout: 30_000,
  }, async () => {
    const path = await temp.file(
      'config.yml',
      [
        'version: 0.1',
        'log:',
        '  formatter: json',
        '  fields:',
        '    service: registry',
        'storage:',
        '  inmemory:',
        '  cache:',
        '    blobdescriptor: inmemory',
        '  colour: blue',
        'http:',
        '  addr: 127.0.0.1:0',
        '  secret: serve-secret-value',
        'compatibility:',
        '  schema1:',
        '    enabled: false',
        '',
      ].join('\n'),
    );
    const cli = startCli(['serve', path]);
    try {
      const ready = json(await cli.waitForLine((l) => l.includes('"ready at ')));
      assert.equal(ready.service, 'registry');
      const url = String(ready['url']);
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);

      const res = await fetch(`${url}/v2/`);
      await res.arrayBuffer();
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');

      const logs = cli.lines.map(json);
      const starting = logs.find((l) => l.msg === 'starting berth');
      assert.equal(starting?.['config'], path);
      assert.ok(logs.some((l) => l.level === 'warn' && l.msg === 'configuration: unknown key storage.colour'));
      assert.ok(
        logs.some((l) => l.level === 'warn' && l['key'] === 'compatibility.schema1' && /not supported yet/.test(l.msg)),
      );
    } finally {
      cli.child.kill('SIGTERM');
    }
    const { code, stderr } = await cli.finished();
    assert.equal(code, 0, stderr);
    const messages = cli.lines.map((l) => json(l).msg);
    assert.ok(messages.includes('shutting down') && messages.includes('stopped'), stderr);
    assert.ok(!stderr.includes('serve-secret-value'));
  });

  it('uses the embedded default with REGISTRY_* overrides when given no file', { timeout: 30_000 }, async () => {
    const cli = startCli(['serve'], {
      cwd: temp.dir,
      env: { REGISTRY_HTTP_ADDR: '127.0.0.1:0', REGISTRY_STORAGE: 'inmemory', REGISTRY_LOG_FORMATTER: 'logfmt' },
    });
    try {
      const starting = await cli.waitForLine((l) => l.includes('msg="starting berth"'));
      assert.match(starting, /config="<embedded default>"/);
      const ready = await cli.waitForLine((l) => l.includes('msg="ready at '));
      const url = /url="?(http:\/\/[^"\s]+)/.exec(ready)?.[1];
      assert.ok(url, ready);
      const res = await fetch(`${url}/v2/`);
      await res.arrayBuffer();
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    } finally {
      cli.child.kill('SIGINT');
    }
    const { code, stderr } = await cli.finished();
    assert.equal(code, 0, stderr);
  });

  it('exits 1 naming the key when the configuration is invalid', async () => {
    const path = await temp.file('bad.yml', 'version: 0.1\nstorage:\n  inmemory:\nhttp:\n  relativeurls: perhaps\n');
    const { code, stderr } = await runCli(['serve', path]);
    assert.equal(code, 1);
    assert.match(stderr, /http\.relativeurls: expected boolean, got string "perhaps"/);
  });

  it('exits 1 when REGISTRY_CONFIGURATION_PATH names a missing file', async () => {
    const { code, stderr } = await runCli(['serve'], {
      env: { REGISTRY_CONFIGURATION_PATH: temp.path('missing.yml') },
    });
    assert.equal(code, 1);
    assert.match(stderr, /missing\.yml\): *\n *cannot read configuration file: no such file/);
  });
});
