/**
 * The access log over real HTTP, in every formatter (json, logfmt, text): one line per request with
 * method, path, status, bytes both ways, duration, request id, client address, user and user agent.
 * `X-Forwarded-For` decides the client address only when the connection comes from a proxy listed
 * in `http.trustedproxies`, and only as far back as the chain of trusted proxies goes.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import type { LogFormatter } from '../../src/config/schema.js';
import { clientAddress, parseTrustedProxies } from '../../src/http/client-address.js';
import { basic, tempDir, writeHtpasswd } from '../auth/support.js';
import { captureLogger, parseLogfmt } from '../helpers/logs.js';
import { startTestServer } from '../helpers/server.js';

/** A logger writing in `formatter` into an array, as `berth serve` would write to stderr. */
function capture(formatter: LogFormatter) {
  return captureLogger({ level: 'info', formatter });
}

/** Reads one access line of any formatter into string fields. */
function readLine(formatter: LogFormatter, line: string): Record<string, string> {
  const trimmed = line.trimEnd();
  if (formatter === 'json') {
    const record = JSON.parse(trimmed) as Record<string, unknown>;
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, String(v)]));
  }
  if (formatter === 'logfmt') return parseLogfmt(trimmed);
  const head = /^(\S+) (INFO) {2}request (.*)$/.exec(trimmed);
  if (head === null) return { msg: 'not an access line' };
  return { time: head[1] ?? '', level: 'info', msg: 'request', ...parseLogfmt(head[3] ?? '') };
}

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 30));

describe('access log', () => {
  let htpasswd: { dir: string; cleanup(): Promise<void> };
  before(async () => {
    htpasswd = await tempDir('berth-access-log-');
    await writeHtpasswd(join(htpasswd.dir, 'htpasswd'), { alice: 'wonderland' });
  });
  after(() => htpasswd.cleanup());

  for (const formatter of ['json', 'logfmt', 'text'] as const) {
    test(`${formatter}: every field of the access line`, async () => {
      const { logger, lines } = capture(formatter);
      const server = await startTestServer(
        {
          log: { accesslog: { disabled: false }, formatter },
          http: { trustedproxies: ['127.0.0.0/8', '10.0.0.0/8'] },
          auth: { htpasswd: { realm: 'test', path: join(htpasswd.dir, 'htpasswd') } },
        },
        { logger },
      );
      try {
        const res = await fetch(`${server.url}/v2/`, {
          headers: {
            Authorization: basic('alice', 'wonderland'),
            'User-Agent': 'docker/27.0 go/go1.22 "quoted"',
            'X-Forwarded-For': '198.51.100.9, 203.0.113.7, 10.1.2.3',
          },
        });
        assert.equal(res.status, 200);
        const body = await res.text();
        await settle();
        const access = lines.map((line) => readLine(formatter, line)).filter((f) => f['msg'] === 'request');
        assert.equal(access.length, 1, lines.join(''));
        if (formatter === 'text')
          assert.ok(lines.some((l) => / INFO {2}request reqId=\S+ method=GET path=\/v2\/ status=200 /.test(l)));
        const line = access[0] ?? {};
        assert.equal(line['level'], 'info');
        assert.match(line['time'] ?? '', /^\d{4}-\d\d-\d\dT/);
        assert.equal(line['method'], 'GET');
        assert.equal(line['path'], '/v2/');
        assert.equal(line['status'], '200');
        assert.ok(Number(line['bytes']) > body.length, 'bytes sent, headers included');
        assert.ok(Number(line['bytesIn']) > 50, 'bytes received, headers included');
        assert.ok(Number(line['durationMs']) >= 0);
        assert.match(line['reqId'] ?? '', /^[0-9a-f-]{36}$/);
        // 10.1.2.3 is a trusted proxy; 203.0.113.7 is not, so it is the client (198.51.100.9 is its claim).
        assert.equal(line['remoteAddr'], '203.0.113.7');
        assert.equal(line['peerAddr'], '127.0.0.1');
        assert.equal(line['user'], 'alice');
        assert.equal(line['userAgent'], 'docker/27.0 go/go1.22 "quoted"');
      } finally {
        await server.close();
      }
    });
  }

  test('X-Forwarded-For is ignored without trusted proxies, or from an untrusted peer', async () => {
    for (const trustedproxies of [undefined, ['10.0.0.0/8']]) {
      const { logger, lines } = capture('json');
      const server = await startTestServer(
        {
          log: { accesslog: { disabled: false } },
          ...(trustedproxies === undefined ? {} : { http: { trustedproxies } }),
        },
        { logger },
      );
      try {
        await (await fetch(`${server.url}/v2/`, { headers: { 'X-Forwarded-For': '203.0.113.7' } })).arrayBuffer();
        await settle();
        const line = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['msg'] === 'request');
        assert.equal(line?.['remoteAddr'], '127.0.0.1', `trusted: ${JSON.stringify(trustedproxies)}`);
        assert.equal(line?.['peerAddr'], undefined);
        assert.equal(line?.['user'], undefined);
      } finally {
        await server.close();
      }
    }
  });
});

describe('http.trustedproxies', () => {
  const trusted = parseTrustedProxies(['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);

  test('the nearest untrusted hop is the client', () => {
    assert.equal(clientAddress('127.0.0.1', '203.0.113.7', trusted), '203.0.113.7');
    assert.equal(clientAddress('::ffff:127.0.0.1', '203.0.113.7:51234', trusted), '203.0.113.7');
    assert.equal(clientAddress('127.0.0.1', 'spoofed, 203.0.113.7, 10.9.9.9', trusted), '203.0.113.7');
    assert.equal(clientAddress('fd00::1', '[2001:db8::5]:443', trusted), '2001:db8::5');
    // Every hop trusted: the farthest one is the best answer there is.
    assert.equal(clientAddress('127.0.0.1', '10.0.0.1, 10.0.0.2', trusted), '10.0.0.1');
  });

  test('a hop that is not an address stops the walk at the last trusted proxy', () => {
    assert.equal(clientAddress('127.0.0.1', 'unknown, 10.0.0.2', trusted), '10.0.0.2');
    assert.equal(clientAddress('127.0.0.1', '<script>', trusted), '127.0.0.1');
  });

  test('untrusted peers and absent lists leave the peer address', () => {
    assert.equal(clientAddress('192.0.2.1', '203.0.113.7', trusted), '192.0.2.1');
    assert.equal(clientAddress('127.0.0.1', '203.0.113.7', undefined), '127.0.0.1');
    assert.equal(clientAddress('::ffff:192.0.2.1', undefined, trusted), '192.0.2.1');
  });

  test('bad entries stop the start with the key named', async () => {
    for (const entry of ['10.0.0.0/33', 'proxy.example.com', '10.0.0.0/8/1', 'fd00::/129', '10.0.0.0/x']) {
      assert.throws(() => parseTrustedProxies([entry]), /http\.trustedproxies/, entry);
    }
    await assert.rejects(startTestServer({ http: { trustedproxies: ['nope'] } }), /http\.trustedproxies: "nope"/);
  });

  test('REGISTRY_HTTP_TRUSTEDPROXIES sets the list', () => {
    const loaded = parseConfig('version: 0.1\nstorage: inmemory\n', {
      env: { REGISTRY_HTTP_TRUSTEDPROXIES: '[10.0.0.0/8, "192.168.0.0/16"]' },
      source: 'test',
    });
    assert.deepEqual(loaded.config.http.trustedproxies, ['10.0.0.0/8', '192.168.0.0/16']);
    assert.deepEqual(loaded.notSupportedYet, []);
  });
});
