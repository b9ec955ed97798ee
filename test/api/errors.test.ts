import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mappingFor } from '../../src/api/errors.js';
import { ERROR_CODES, type ErrorCode, RegistryError } from '../../src/registry/errors.js';
import type { TagStore } from '../../src/registry/types.js';
import { decorateRegistry } from '../helpers/decorators.js';
import { assertError, sha256 } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const EXPECTED: Record<ErrorCode, [number, string]> = {
  BLOB_UNKNOWN: [404, 'BLOB_UNKNOWN'],
  BLOB_UPLOAD_INVALID: [400, 'BLOB_UPLOAD_INVALID'],
  BLOB_UPLOAD_UNKNOWN: [404, 'BLOB_UPLOAD_UNKNOWN'],
  DIGEST_INVALID: [400, 'DIGEST_INVALID'],
  MANIFEST_BLOB_UNKNOWN: [404, 'MANIFEST_BLOB_UNKNOWN'],
  MANIFEST_INVALID: [400, 'MANIFEST_INVALID'],
  MANIFEST_UNKNOWN: [404, 'MANIFEST_UNKNOWN'],
  MANIFEST_UNVERIFIED: [400, 'MANIFEST_UNVERIFIED'],
  NAME_INVALID: [400, 'NAME_INVALID'],
  NAME_UNKNOWN: [404, 'NAME_UNKNOWN'],
  SIZE_INVALID: [400, 'SIZE_INVALID'],
  TAG_INVALID: [400, 'TAG_INVALID'],
  UNAUTHORIZED: [401, 'UNAUTHORIZED'],
  DENIED: [403, 'DENIED'],
  UNSUPPORTED: [405, 'UNSUPPORTED'],
  TOO_MANY_REQUESTS: [429, 'TOO_MANY_REQUESTS'],
  RANGE_INVALID: [416, 'RANGE_INVALID'],
  TOO_LARGE: [413, 'SIZE_INVALID'],
};

/** A repository name per error code, e.g. `fail/blob-upload-unknown`. */
const nameFor = (code: string) => `fail/${code.toLowerCase().replace(/_/g, '-')}`;

function failingTags(code: ErrorCode): TagStore {
  const fail = async (): Promise<never> => {
    throw new RegistryError(code, `injected ${code}`, { injected: true });
  };
  return { get: fail, tag: fail, untag: fail, list: fail, lookup: fail };
}

describe('error mapping', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer(
      {},
      {
        wrapRegistry: (registry) =>
          decorateRegistry(registry, {
            repository: (real) => {
              const code = ERROR_CODES.find((c) => nameFor(c) === real.name);
              return code === undefined ? {} : { tags: () => failingTags(code) };
            },
          }),
      },
    );
  });
  after(() => server.close());

  test('the table covers every domain code', () => {
    for (const code of ERROR_CODES) {
      const { status, wire } = mappingFor(code, false);
      assert.deepEqual([status, wire], EXPECTED[code], code);
    }
    assert.deepEqual(mappingFor('TOO_LARGE', true), { status: 413, wire: 'MANIFEST_INVALID' });
  });

  test('every code reaches the wire with its status, JSON body and API version header', async () => {
    for (const code of ERROR_CODES) {
      const [status, wire] = EXPECTED[code];
      const res = await fetch(`${server.url}/v2/${nameFor(code)}/tags/list`);
      const error = await assertError(res, status, wire);
      assert.equal(error.message, `injected ${code}`);
      assert.deepEqual((error as { detail?: unknown }).detail, { injected: true });
    }
  });

  test('TOO_LARGE on the manifests route answers MANIFEST_INVALID', async () => {
    const res = await fetch(`${server.url}/v2/${nameFor('TOO_LARGE')}/manifests/latest`);
    await assertError(res, 413, 'MANIFEST_INVALID');
  });

  test('errors without detail carry detail null', async () => {
    const res = await fetch(`${server.url}/v2/fail/x/blobs/uploads/?digest=${sha256('a').slice(0, 20)}`, {
      method: 'POST',
    });
    const body = await assertError(res, 400, 'DIGEST_INVALID');
    assert.ok('detail' in body);
  });
});
