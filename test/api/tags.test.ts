import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertError, OCI_MANIFEST, type PushedImage, pushImage, pushManifest } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('tags list', () => {
  let server: TestServer;
  let image: PushedImage;
  const tags = ['b', 'a', 'c', 'latest', 'v1.0', 'v1.1', 'v10', 'V2', '_x'];
  const sorted = [...tags].sort();
  before(async () => {
    server = await startTestServer();
    image = await pushImage(server.url, 'tags/app', tags[0] ?? 'b');
    for (const tag of tags.slice(1)) await pushManifest(server.url, 'tags/app', tag, image.manifestBytes, OCI_MANIFEST);
  });
  after(() => server.close());

  const list = (query = '', name = 'tags/app') => fetch(`${server.url}/v2/${name}/tags/list${query}`);

  test('lists every tag in lexical order', async () => {
    const res = await list();
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(res.headers.get('link'), null);
    assert.deepEqual(await res.json(), { name: 'tags/app', tags: sorted });
  });

  test('paginates with n and last, with an RFC 5988 Link while more remain', async () => {
    const seen: string[] = [];
    let next: string | undefined = '?n=4';
    let pages = 0;
    while (next !== undefined) {
      const res = await list(next);
      assert.equal(res.status, 200);
      const body = (await res.json()) as { tags: string[] };
      seen.push(...body.tags);
      pages += 1;
      const link = res.headers.get('link');
      if (link === null) {
        next = undefined;
      } else {
        const match = /^<\/v2\/tags\/app\/tags\/list(\?[^>]+)>; rel="next"$/.exec(link);
        assert.ok(match, link);
        assert.equal(body.tags.length, 4);
        next = match[1];
      }
    }
    assert.deepEqual(seen, sorted);
    assert.equal(pages, 3);
  });

  test('the Link header carries last and n', async () => {
    const res = await list('?n=2');
    assert.deepEqual(((await res.json()) as { tags: string[] }).tags, sorted.slice(0, 2));
    assert.equal(res.headers.get('link'), `</v2/tags/app/tags/list?last=${sorted[1]}&n=2>; rel="next"`);
  });

  test('a page ending exactly at the last tag has no Link', async () => {
    const res = await list(`?n=2&last=${sorted[sorted.length - 3]}`);
    assert.deepEqual(((await res.json()) as { tags: string[] }).tags, sorted.slice(-2));
    assert.equal(res.headers.get('link'), null);
  });

  test('last alone starts after it', async () => {
    const res = await list('?last=c');
    assert.deepEqual(
      ((await res.json()) as { tags: string[] }).tags,
      sorted.filter((t) => t > 'c'),
    );
  });

  test('n=0 answers an empty list', async () => {
    const res = await list('?n=0');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { name: 'tags/app', tags: [] });
    assert.equal(res.headers.get('link'), null);
  });

  test('an invalid n answers 400 PAGINATION_NUMBER_INVALID', async () => {
    for (const n of ['-1', 'abc', '1.5', '1e3']) {
      await assertError(await list(`?n=${n}`), 400, 'PAGINATION_NUMBER_INVALID');
    }
  });

  test('an unknown repository answers 404 NAME_UNKNOWN', async () => {
    await assertError(await list('', 'tags/unknown'), 404, 'NAME_UNKNOWN');
  });
});

describe('tags list: Link under a prefix, cursor encoding', () => {
  test('the Link path carries http.prefix', async () => {
    const server = await startTestServer({ http: { prefix: '/r/' } });
    try {
      const image = await pushImage(`${server.url}/r`, 'p/app', 'one');
      await pushManifest(`${server.url}/r`, 'p/app', 'two', image.manifestBytes, OCI_MANIFEST);
      const res = await fetch(`${server.url}/r/v2/p/app/tags/list?n=1`);
      assert.equal(res.headers.get('link'), '</r/v2/p/app/tags/list?last=one&n=1>; rel="next"');
      await res.arrayBuffer();
    } finally {
      await server.close();
    }
  });
});
