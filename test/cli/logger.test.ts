import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { captureLogger, parseLogfmt } from '../helpers/logs.js';

const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const FIELDS = { service: 'registry', environment: 'test env' };

describe('logger formatters', () => {
  it('json: one object per line with level label, ISO time, message and the configured fields', () => {
    const { logger, lines } = captureLogger({ level: 'info', formatter: 'json', fields: FIELDS });
    logger.info({ repo: 'library/alpine', req: { method: 'GET' } }, 'pulled manifest');
    assert.equal(lines.length, 1);
    assert.ok(lines[0]?.endsWith('\n'));
    const record = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    assert.equal(record['level'], 'info');
    assert.match(String(record['time']), ISO_TIME);
    assert.equal(record['msg'], 'pulled manifest');
    assert.equal(record['service'], 'registry');
    assert.equal(record['environment'], 'test env');
    assert.equal(record['repo'], 'library/alpine');
    assert.deepEqual(record['req'], { method: 'GET' });
  });

  it('logfmt: time, level and msg first, then flattened key=value pairs with quoting', () => {
    const { logger, lines } = captureLogger({ level: 'info', formatter: 'logfmt', fields: FIELDS });
    logger.child({ request_id: 'r-1' }).warn({ req: { method: 'GET', uri: '/v2/' }, n: 3 }, 'slow "request"\nhere');
    assert.equal(lines.length, 1);
    const line = lines[0] ?? '';
    assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'), 'exactly one line');
    assert.match(line, /^time="[^"]+" level=warn msg="/);
    const kv = parseLogfmt(line.slice(0, -1));
    assert.match(kv['time'] ?? '', ISO_TIME);
    assert.equal(kv['level'], 'warn');
    assert.equal(kv['msg'], 'slow "request"\nhere');
    assert.equal(kv['service'], 'registry');
    assert.equal(kv['environment'], 'test env');
    assert.equal(kv['request_id'], 'r-1');
    assert.equal(kv['req.method'], 'GET');
    assert.equal(kv['req.uri'], '/v2/');
    assert.equal(kv['n'], '3');
  });

  it('text: a readable line — time, padded level, message, then key=value pairs', () => {
    const { logger, lines } = captureLogger({ level: 'debug', formatter: 'text', fields: FIELDS });
    logger.debug({ port: 5000 }, 'listening on :5000');
    assert.equal(lines.length, 1);
    const m = /^(\S+) (DEBUG|INFO |WARN |ERROR) (listening on :5000) (.*)\n$/.exec(lines[0] ?? '');
    assert.ok(m, lines[0]);
    assert.match(m[1] ?? '', ISO_TIME);
    assert.deepEqual(parseLogfmt(m[4] ?? ''), { service: 'registry', environment: 'test env', port: '5000' });
  });

  it('text and logfmt include errors with their message', () => {
    for (const formatter of ['text', 'logfmt'] as const) {
      const { logger, lines } = captureLogger({ level: 'info', formatter });
      logger.error({ err: new Error('disk on fire') }, 'request failed');
      assert.match(lines[0] ?? '', /err\.message="disk on fire"/, formatter);
      assert.match(lines[0] ?? '', /err\.type=Error/, formatter);
    }
  });

  it('honours the level', () => {
    const { logger, lines } = captureLogger({ level: 'warn', formatter: 'json' });
    logger.debug('hidden');
    logger.info('hidden');
    logger.warn('shown');
    logger.error('shown too');
    assert.deepEqual(
      lines.map((l) => (JSON.parse(l) as { msg: string }).msg),
      ['shown', 'shown too'],
    );
  });

  it('censors credentials passed by mistake', () => {
    for (const formatter of ['json', 'logfmt', 'text'] as const) {
      const { logger, lines } = captureLogger({ level: 'info', formatter });
      logger.info(
        { password: 'pw-value', req: { headers: { authorization: 'Bearer tok-value', host: 'r.example' } } },
        'request',
      );
      assert.ok(!lines[0]?.includes('pw-value') && !lines[0]?.includes('tok-value'), lines[0]);
      assert.ok(lines[0]?.includes('r.example'), lines[0]);
    }
  });
});
