import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigSchema } from '../../src/config/schema.js';
import { listSchemaPaths } from '../../src/config/schema-walk.js';
import { findNotSupportedYet, NOT_SUPPORTED_YET, SUPPORTED_KEYS } from '../../src/config/support.js';

function covers(entry: string, path: string): boolean {
  return path === entry || path.startsWith(`${entry}.`);
}

describe('supported / not-supported-yet key lists', () => {
  it('cover every key of the schema exactly once', () => {
    const paths = listSchemaPaths(ConfigSchema);
    assert.ok(paths.length > 100, `only ${paths.length} schema paths found`);
    for (const path of paths) {
      const owners = [...SUPPORTED_KEYS, ...NOT_SUPPORTED_YET].filter((e) => covers(e, path));
      assert.equal(owners.length, 1, `${path} is covered by ${owners.length} entries: ${owners.join(', ')}`);
    }
  });

  it('name only keys the schema has', () => {
    const paths = listSchemaPaths(ConfigSchema);
    for (const entry of [...SUPPORTED_KEYS, ...NOT_SUPPORTED_YET]) {
      assert.ok(
        paths.some((p) => covers(entry, p)),
        `${entry} is not a schema key`,
      );
    }
  });

  it('finds entries that are present, even when empty or null', () => {
    assert.deepEqual(findNotSupportedYet({ redis: { addrs: null }, http: { http2: {} }, storage: { inmemory: {} } }), [
      'http.http2',
      'redis.addrs',
    ]);
    assert.deepEqual(findNotSupportedYet({ http: { addr: ':5000' } }), []);
  });
});
