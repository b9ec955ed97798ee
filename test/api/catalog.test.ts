import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertError, pushImage } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('catalog', () => {
  let server: TestServer;
  const names = ['zeta', 'alpha/one', 'alpha/two', 'beta', 'alpha-x', 'a.b/c'];
  const sorted = [...names].sort();
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  test('an empty registry has an empty catalog', async () => {
    const res = await fetch(`${server.url}/v2/_catalog`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { repositories: [] });
  });

  test('lists repositories in lexical order, paginated with Link', async () => {
    for (const name of names) await pushImage(server.url, name, 'latest');
    const all = await fetch(`${server.url}/v2/_catalog`);
    assert.deepEqual(await all.json(), { repositories: sorted });
    assert.equal(all.headers.get('link'), null);

    const first = await fetch(`${server.url}/v2/_catalog?n=2`);
    assert.deepEqual(((await first.json()) as { repositories: string[] }).repositories, sorted.slice(0, 2));
    const last = sorted[1] ?? '';
    assert.equal(first.headers.get('link'), `</v2/_catalog?last=${encodeURIComponent(last)}&n=2>; rel="next"`);

    const seen: string[] = [];
    let next: string | undefined = '/v2/_catalog?n=4';
    while (next !== undefined) {
      const res = await fetch(`${server.url}${next}`);
      seen.push(...((await res.json()) as { repositories: string[] }).repositories);
      next = /^<([^>]+)>; rel="next"$/.exec(res.headers.get('link') ?? '')?.[1];
    }
    assert.deepEqual(seen, sorted);
  });

  test('the cursor is URL-encoded and round-trips', async () => {
    const res = await fetch(`${server.url}/v2/_catalog?n=1&last=${encodeURIComponent('alpha/one')}`);
    assert.deepEqual(((await res.json()) as { repositories: string[] }).repositories, ['alpha/two']);
    assert.equal(res.headers.get('link'), '</v2/_catalog?last=alpha%2Ftwo&n=1>; rel="next"');
  });

  test('n=0 answers an empty list; an invalid n answers 400 PAGINATION_NUMBER_INVALID', async () => {
    const res = await fetch(`${server.url}/v2/_catalog?n=0`);
    assert.deepEqual(await res.json(), { repositories: [] });
    await assertError(await fetch(`${server.url}/v2/_catalog?n=x`), 400, 'PAGINATION_NUMBER_INVALID');
    await assertError(await fetch(`${server.url}/v2/_catalog?n=-3`), 400, 'PAGINATION_NUMBER_INVALID');
  });
});

describe('catalog.maxentries', () => {
  test('caps a page with or without n, and the Link header continues from there', async () => {
    const server = await startTestServer({ catalog: { maxentries: 2 } });
    try {
      for (const name of ['c', 'a', 'b']) await pushImage(server.url, name, 'latest');
      for (const query of ['', '?n=10']) {
        const res = await fetch(`${server.url}/v2/_catalog${query}`);
        assert.deepEqual(await res.json(), { repositories: ['a', 'b'] }, query);
        assert.equal(res.headers.get('link'), '</v2/_catalog?last=b&n=2>; rel="next"', query);
      }
      const rest = await fetch(`${server.url}/v2/_catalog?last=b&n=2`);
      assert.deepEqual(await rest.json(), { repositories: ['c'] });
      assert.equal(rest.headers.get('link'), null);
      const smaller = await fetch(`${server.url}/v2/_catalog?n=1`);
      assert.deepEqual(await smaller.json(), { repositories: ['a'] });
    } finally {
      await server.close();
    }
  });
});
