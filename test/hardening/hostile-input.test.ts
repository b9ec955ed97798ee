/**
 * Malformed and hostile input against every endpoint, over raw sockets so nothing normalises it
 * on the way: bad repository names (traversal, empty segments, upper case, 256+ characters,
 * percent-encoded `..` and `/`), bad digests and references, bad and overlapping Content-Range,
 * wrong Content-Length, truncated and stalled bodies, request-smuggling headers, non-JSON and
 * deeply nested JSON manifests, prototype-pollution keys, broken request lines. Each answer must
 * be the spec'd error; afterwards the server still serves, the pushed image is intact, and the
 * storage tree — and everything next to it — is byte for byte what it was (the one session whose
 * commit was refused is gone, as the spec says it must be).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OCI_MANIFEST, type PushedImage, pushImage, sha256, startUpload } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { type Case, manifestCases } from './hostile-manifests.js';
import { errorCode, head, type RawAnswer, rawExchange, request } from './raw-http.js';
import { diffSnapshots, type Snapshot, snapshotTree } from './snapshot.js';

function pathOf(url: string): string {
  const parsed = new URL(url);
  return parsed.pathname + parsed.search;
}

/** `path` (which may carry the upload's state in its query) with `digest=` added, unencoded. */
function withDigest(path: string, digest: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}digest=${digest}`;
}

/** Request paths for `name` on every endpoint, with the method each is called with. */
function endpoints(name: string, uploadId: string): Array<[string, string]> {
  const digest = `sha256:${'0'.repeat(64)}`;
  return [
    ['GET', `/v2/${name}/tags/list`],
    ['GET', `/v2/${name}/manifests/latest`],
    ['HEAD', `/v2/${name}/manifests/latest`],
    ['PUT', `/v2/${name}/manifests/latest`],
    ['DELETE', `/v2/${name}/manifests/${digest}`],
    ['GET', `/v2/${name}/blobs/${digest}`],
    ['DELETE', `/v2/${name}/blobs/${digest}`],
    ['POST', `/v2/${name}/blobs/uploads/`],
    ['POST', `/v2/${name}/blobs/uploads/?digest=${digest}`],
    ['PATCH', `/v2/${name}/blobs/uploads/${uploadId}`],
    ['PUT', `/v2/${name}/blobs/uploads/${uploadId}?digest=${digest}`],
    ['GET', `/v2/${name}/referrers/${digest}`],
  ];
}

const BAD_NAMES = [
  '../x',
  'good/../../x',
  'good/repo/../../../../outside',
  'a//b',
  '/good/repo',
  'good/repo/',
  'Good/Repo',
  'UPPER',
  'a'.repeat(256),
  `${'a'.repeat(200)}/${'b'.repeat(60)}`,
  '%2e%2e/x',
  '%2e%2e%2fx',
  'good%2frepo',
  'good/%2e%2e/%2e%2e/outside',
  'good/%00',
  'good/re%5cpo',
  'good/r%C3%A9po',
  '-good/repo',
  'good./repo',
];

describe('hostile input against every endpoint', () => {
  let work: string;
  let root: string;
  let server: TestServer;
  let image: PushedImage;
  let session: string;
  let sessionId: string;
  let doomed: string;
  let initial: Snapshot;
  let doomedDir: string;
  const answers: Array<{ what: string; answer: RawAnswer }> = [];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-hostile-'));
    root = join(work, 'root');
    await mkdir(join(work, 'outside'), { recursive: true });
    await writeFile(join(work, 'outside', 'secret.txt'), 'must stay as it is\n');
    server = await startTestServer({
      storage: { filesystem: { rootdirectory: root }, delete: { enabled: true } },
      http: { limits: { idletimeout: '500ms' } },
    });
    image = await pushImage(server.url, 'good/repo', 'latest');
    // A session holding 10 bytes, for Content-Range cases; another for a refused commit.
    const location = await startUpload(server.url, 'good/repo');
    const patched = await fetch(location, {
      method: 'PATCH',
      headers: { 'Content-Range': '0-9', 'Content-Type': 'application/octet-stream' },
      body: Buffer.from('0123456789'),
    });
    await patched.arrayBuffer();
    assert.equal(patched.status, 202);
    session = pathOf(new URL(patched.headers.get('location') ?? '', server.url).toString());
    sessionId = session.split('?')[0]?.split('/').pop() ?? '';
    doomed = pathOf(await startUpload(server.url, 'good/repo'));
    const doomedId = doomed.split('?')[0]?.split('/').pop() ?? '';
    doomedDir = join('root', 'docker', 'registry', 'v2', 'repositories', 'good', 'repo', '_uploads', doomedId);
    initial = await snapshotTree(work);
  });

  after(async () => {
    await server?.close();
    await rm(work, { recursive: true, force: true });
  });

  async function check(c: Case): Promise<void> {
    const answer = await rawExchange(server.port, c.parts, {
      timeoutMs: 15_000,
      ...(c.end ? { endAfterSend: true } : {}),
    });
    answers.push({ what: c.what, answer });
    const statuses = Array.isArray(c.status) ? c.status : [c.status];
    const shown = `${c.what}: got ${answer.status} ${answer.body.toString('utf8').slice(0, 200)}`;
    assert.ok(statuses.includes(answer.status), shown);
    const headRequest = String(c.parts[0]).startsWith('HEAD ');
    if (c.code !== undefined && answer.status !== 0 && !headRequest) {
      assert.ok([c.code].flat().includes(errorCode(answer) ?? ''), shown);
    }
    if (answer.status !== 0 && c.code !== undefined) {
      assert.equal(answer.headers['docker-distribution-api-version'], 'registry/2.0', shown);
    }
  }

  test('bad repository names on every endpoint: 400 NAME_INVALID', async () => {
    const manifest = JSON.stringify(image.manifest);
    for (const name of BAD_NAMES) {
      for (const [method, path] of endpoints(name, sessionId)) {
        const body = method === 'PUT' && path.includes('/manifests/') ? manifest : method === 'PATCH' ? 'xx' : '';
        const headers: Array<[string, string]> = body === manifest ? [['Content-Type', OCI_MANIFEST]] : [];
        await check({
          what: `${method} ${path.slice(0, 120)}`,
          parts: [request(method, path, body, headers)],
          status: 400,
          code: 'NAME_INVALID',
        });
      }
    }
  });

  test('paths that are no route: 404, never a file', async () => {
    for (const path of [
      '/v2/good/repo/../../../../outside/secret.txt',
      '/v2/..%2f..%2foutside%2fsecret.txt',
      '/v2/good/repo/blobs',
      '/v2/good/repo/manifests',
      '//v2/',
      '/v2/_catalog/extra',
      '/../outside/secret.txt',
      '/v3/',
    ]) {
      const answer = await rawExchange(server.port, [request('GET', path)]);
      assert.equal(answer.status, 404, `${path}: ${answer.status}`);
      assert.doesNotMatch(answer.body.toString(), /must stay/);
    }
    const absolute = await rawExchange(server.port, [request('GET', 'http://evil.example/v2/_catalog')]);
    assert.equal(absolute.status, 404);
  });

  test('bad digests, references and upload ids', async () => {
    const repo = '/v2/good/repo';
    const cases: Case[] = [
      ...[
        'sha256:xyz',
        `sha256:${'A'.repeat(64)}`,
        `sha256:${'a'.repeat(63)}`,
        `sha256:${'a'.repeat(65)}`,
        'md5:d41d8cd98f00b204e9800998ecf8427e',
        'sha256:..%2f..%2fx',
        `sha512:${'a'.repeat(64)}`,
        'sha256',
        ':',
      ].flatMap((d): Case[] => [
        { what: `GET blob ${d}`, parts: [request('GET', `${repo}/blobs/${d}`)], status: 400, code: 'DIGEST_INVALID' },
        {
          what: `DELETE blob ${d}`,
          parts: [request('DELETE', `${repo}/blobs/${d}`)],
          status: 400,
          code: 'DIGEST_INVALID',
        },
        {
          what: `GET referrers ${d}`,
          parts: [request('GET', `${repo}/referrers/${d}`)],
          status: 400,
          code: 'DIGEST_INVALID',
        },
        {
          what: `PUT upload ?digest=${d}`,
          parts: [request('PUT', withDigest(session, d))],
          status: 400,
          code: 'DIGEST_INVALID',
        },
        {
          what: `POST monolithic ?digest=${d}`,
          parts: [request('POST', `${repo}/blobs/uploads/?digest=${d}`, 'abc')],
          status: 400,
          code: 'DIGEST_INVALID',
        },
      ]),
      {
        what: 'manifest by bad digest',
        parts: [request('GET', `${repo}/manifests/sha256:zz`)],
        status: 400,
        code: 'DIGEST_INVALID',
      },
      ...['-bad', '.bad', 'a'.repeat(129), '..', 'a%2fb', 'a b'.replace(' ', '%20')].map(
        (tag): Case => ({
          what: `manifest tag ${tag.slice(0, 20)}`,
          parts: [request('GET', `${repo}/manifests/${tag}`)],
          status: 400,
          code: 'TAG_INVALID',
        }),
      ),
      { what: 'PUT upload without digest', parts: [request('PUT', session)], status: 400, code: 'DIGEST_INVALID' },
      {
        // Without the upload's signed state a well-formed id is refused before any lookup.
        what: 'unknown upload id',
        parts: [request('PATCH', '/v2/good/repo/blobs/uploads/0d1ba2ab-6dcb-4c55-9e1e-4a8ba5b6c7d8', 'xx')],
        status: [404, 400],
        code: ['BLOB_UPLOAD_UNKNOWN', 'BLOB_UPLOAD_INVALID'],
      },
      ...['..', '%2e%2e', '.', 'x'.repeat(300), 'a%2fb'].map(
        (id): Case => ({
          what: `upload id ${id.slice(0, 20)}`,
          parts: [request('PATCH', `${repo}/blobs/uploads/${id}`, 'xx')],
          status: 404,
          code: 'BLOB_UPLOAD_UNKNOWN',
        }),
      ),
    ];
    for (const c of cases) await check(c);
  });

  test('bad, overlapping and inconsistent Content-Range: 416 / 400, the session keeps its bytes', async () => {
    const patch = (range: string, body: string | Buffer, extra: Array<[string, string | number]> = []) =>
      request('PATCH', session, body, [['Content-Range', range], ...extra]);
    const cases: Case[] = [
      { what: 'range not numbers', parts: [patch('bytes=abc', 'x')], status: 416, code: 'RANGE_INVALID' },
      { what: 'range backwards', parts: [patch('20-10', 'x')], status: 416, code: 'RANGE_INVALID' },
      { what: 'range resending bytes held', parts: [patch('0-9', '0123456789')], status: 416, code: 'RANGE_INVALID' },
      { what: 'range overlapping the end', parts: [patch('5-14', '5678901234')], status: 416, code: 'RANGE_INVALID' },
      { what: 'range leaving a gap', parts: [patch('11-20', '1234567890')], status: 416, code: 'RANGE_INVALID' },
      { what: 'range negative', parts: [patch('-1-5', 'x')], status: 416, code: 'RANGE_INVALID' },
      { what: 'range huge', parts: [patch(`10-${'9'.repeat(20)}`, 'x')], status: 416, code: 'RANGE_INVALID' },
      { what: 'range two ranges', parts: [patch('10-11,12-13', 'xx')], status: 416, code: 'RANGE_INVALID' },
      {
        what: 'range length disagrees with Content-Length',
        parts: [patch('10-19', '12345')],
        status: 400,
        code: 'SIZE_INVALID',
      },
    ];
    for (const c of cases) await check(c);
    for (const { what, answer } of answers.filter((a) => a.answer.status === 416 && a.what.startsWith('range'))) {
      assert.equal(answer.headers['range'], '0-9', `${what} reports the session's range`);
    }
  });

  test('wrong Content-Length, truncated and stalled bodies, smuggling headers', async () => {
    const digest100 = sha256(Buffer.alloc(100, 7));
    const cases: Case[] = [
      {
        what: 'PATCH body shorter than Content-Length, client gives up',
        parts: [head('PATCH', session, [['Content-Length', 100]]), Buffer.alloc(40, 1)],
        end: true,
        status: [0, 400],
      },
      {
        what: 'PATCH body shorter than Content-Length, client stalls',
        parts: [head('PATCH', session, [['Content-Length', 100]]), Buffer.alloc(40, 1)],
        status: 408,
        code: 'BLOB_UPLOAD_INVALID',
      },
      {
        what: 'monolithic POST truncated',
        parts: [
          head('POST', `/v2/good/repo/blobs/uploads/?digest=${digest100}`, [['Content-Length', 100]]),
          Buffer.alloc(50, 7),
        ],
        end: true,
        status: [0, 400],
      },
      {
        what: 'manifest PUT truncated',
        parts: [
          head('PUT', '/v2/good/repo/manifests/truncated', [
            ['Content-Type', OCI_MANIFEST],
            ['Content-Length', 1000],
          ]),
          JSON.stringify(image.manifest).slice(0, 200),
        ],
        end: true,
        status: [0, 400],
      },
      {
        what: 'manifest PUT stalled',
        parts: [
          head('PUT', '/v2/good/repo/manifests/stalled', [
            ['Content-Type', OCI_MANIFEST],
            ['Content-Length', 1000],
          ]),
          JSON.stringify(image.manifest).slice(0, 200),
        ],
        status: 408,
        code: 'MANIFEST_INVALID',
      },
      { what: 'negative Content-Length', parts: [head('PATCH', session, [['Content-Length', -5]])], status: 400 },
      { what: 'non-numeric Content-Length', parts: [head('PATCH', session, [['Content-Length', 'ten']])], status: 400 },
      {
        what: 'conflicting Content-Length headers',
        parts: [
          head('PATCH', session, [
            ['Content-Length', 5],
            ['Content-Length', 7],
          ]),
          '12345',
        ],
        status: 400,
      },
      {
        what: 'Content-Length with Transfer-Encoding',
        parts: [
          head('PATCH', session, [
            ['Content-Length', 5],
            ['Transfer-Encoding', 'chunked'],
          ]),
          '0\r\n\r\n',
        ],
        status: 400,
      },
      {
        what: 'broken chunk size',
        parts: [head('PATCH', session, [['Transfer-Encoding', 'chunked']]), 'zz\r\nxx\r\n0\r\n\r\n'],
        status: [400, 0],
      },
      {
        what: 'unknown transfer coding',
        parts: [head('PATCH', session, [['Transfer-Encoding', 'gzip, identity']]), 'x'],
        status: [400, 501],
      },
    ];
    for (const c of cases) await check(c);
  });

  test('non-JSON, deeply nested and poisoned manifests: 400 MANIFEST_INVALID or a missing reference', async () => {
    for (const c of manifestCases(image)) await check(c);
    assert.equal((Object.prototype as Record<string, unknown>)['polluted'], undefined);
  });

  test('bad pagination, methods and request lines', async () => {
    const cases: Case[] = [
      ...['-1', 'abc', '1e309', '0x10', `${'9'.repeat(30)}`, '1.5'].map(
        (n): Case => ({
          what: `catalog n=${n}`,
          parts: [request('GET', `/v2/_catalog?n=${n}`)],
          status: 400,
          code: 'PAGINATION_NUMBER_INVALID',
        }),
      ),
      {
        what: 'tags n=abc',
        parts: [request('GET', '/v2/good/repo/tags/list?n=abc')],
        status: 400,
        code: 'PAGINATION_NUMBER_INVALID',
      },
      { what: 'TRACE /v2/', parts: [request('TRACE', '/v2/')], status: 405, code: 'UNSUPPORTED' },
      { what: 'DELETE /v2/_catalog', parts: [request('DELETE', '/v2/_catalog')], status: 405, code: 'UNSUPPORTED' },
      {
        what: 'PATCH a manifest',
        parts: [request('PATCH', '/v2/good/repo/manifests/latest', '{}')],
        status: 405,
        code: 'UNSUPPORTED',
      },
      { what: 'unknown method', parts: ['BREW /v2/ HTTP/1.1\r\nHost: x\r\n\r\n'], status: 400 },
      { what: 'space in the path', parts: ['GET /v2/a b/tags/list HTTP/1.1\r\nHost: x\r\n\r\n'], status: 400 },
      { what: 'HTTP/9.9', parts: ['GET /v2/ HTTP/9.9\r\nHost: x\r\n\r\n'], status: [400, 505] },
      { what: 'NUL in a header', parts: ['GET /v2/ HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n'], status: 400 },
      { what: 'header without colon', parts: ['GET /v2/ HTTP/1.1\r\nHost: x\r\nnonsense\r\n\r\n'], status: 400 },
      { what: 'headers over 64 KiB', parts: [head('GET', '/v2/', [['X-Big', 'a'.repeat(70_000)]])], status: 431 },
      { what: 'TLS on the plain port', parts: [Buffer.from('16030100a5010000a103030000', 'hex')], status: 400 },
      { what: 'binary garbage', parts: [Buffer.from([0, 1, 2, 3, 255, 254, 13, 10, 13, 10])], status: 400 },
    ];
    for (const c of cases) await check(c);
  });

  test('afterwards: the server serves, the image is intact, nothing on disk changed', async () => {
    const base = await fetch(`${server.url}/v2/`);
    assert.equal(base.status, 200);
    const manifest = await fetch(`${server.url}/v2/good/repo/manifests/latest`, { headers: { Accept: OCI_MANIFEST } });
    assert.equal(manifest.status, 200);
    assert.deepEqual(Buffer.from(await manifest.arrayBuffer()), image.manifestBytes);
    const layer = await fetch(`${server.url}/v2/good/repo/blobs/${image.layer.digest}`);
    assert.deepEqual(Buffer.from(await layer.arrayBuffer()), image.layerBytes);
    const status = await fetch(new URL(session, server.url));
    await status.arrayBuffer();
    assert.equal(status.headers.get('range'), '0-9', 'the session still holds exactly its 10 bytes');

    // The one refused commit the spec requires to end its session.
    const wrong = await fetch(new URL(withDigest(doomed, sha256('nope')), server.url), {
      method: 'PUT',
      body: 'yes',
    });
    await wrong.arrayBuffer();
    assert.equal(wrong.status, 400);

    const after = await snapshotTree(work);
    const expected = new Map(initial);
    for (const path of expected.keys())
      if (path === doomedDir || path.startsWith(`${doomedDir}/`)) expected.delete(path);
    assert.deepEqual(diffSnapshots(expected, after), []);
  });
});
