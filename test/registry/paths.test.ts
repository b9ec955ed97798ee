/** Reading digests back out of distribution's layout paths, as collection and listings do. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { blobDigestFromDataPath, digestFromDirPath } from '../../src/registry/paths.js';

const HEX = 'a'.repeat(64);

describe('layout paths', () => {
  it('reads the digest of a `<dir>/<alg>/<hex>` path and nothing else', () => {
    const base = '/docker/registry/v2/repositories/team/app/_layers';
    assert.equal(digestFromDirPath(`${base}/sha256/${HEX}`), `sha256:${HEX}`);
    assert.equal(digestFromDirPath(`/sha256/${HEX}`), `sha256:${HEX}`);
    assert.equal(digestFromDirPath(`sha256/${HEX}`), undefined);
    assert.equal(digestFromDirPath(`/${HEX}`), undefined);
    assert.equal(digestFromDirPath(HEX), undefined);
    assert.equal(digestFromDirPath(`${base}/sha256/${HEX.slice(1)}`), undefined);
    assert.equal(digestFromDirPath(`${base}/md5/${HEX}`), undefined);
    assert.equal(digestFromDirPath(`${base}/sha256/${HEX}/link`), undefined);
  });

  it('reads the digest of a blob data path only in its shard', () => {
    const root = '/docker/registry/v2/blobs/sha256';
    assert.equal(blobDigestFromDataPath(`${root}/aa/${HEX}/data`), `sha256:${HEX}`);
    assert.equal(blobDigestFromDataPath(`${root}/ab/${HEX}/data`), undefined);
    assert.equal(blobDigestFromDataPath(`${root}/aa/${HEX}/link`), undefined);
  });
});
