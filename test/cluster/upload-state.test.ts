import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { createUploadStateCodec, UploadStateError } from '../../src/http/upload-state.js';

const state = {
  name: 'library/alpine',
  uuid: '5a1f3e9c-1d2b-4c3d-8e4f-0a1b2c3d4e5f',
  offset: 1234,
  startedAt: new Date('2024-05-01T10:20:30Z'),
};

/** What distribution's `packUploadState` produces: base64.URLEncoding(HMAC ‖ json.Marshal(state)). */
function goToken(secret: string, json: string): string {
  const mac = createHmac('sha256', secret).update(json).digest();
  return Buffer.concat([mac, Buffer.from(json)])
    .toString('base64')
    .replaceAll('+', '-')
    .replaceAll('/', '_');
}

describe('upload state token', () => {
  test('round-trips and is distribution’s format byte for byte', () => {
    const codec = createUploadStateCodec('s3cret');
    const token = codec.pack(state);
    assert.deepEqual(codec.unpack(token), state);
    const json =
      '{"Name":"library/alpine","UUID":"5a1f3e9c-1d2b-4c3d-8e4f-0a1b2c3d4e5f","Offset":1234,"StartedAt":"2024-05-01T10:20:30Z"}';
    assert.equal(token, goToken('s3cret', json));
  });

  test('reads a token distribution made, with Go’s nanosecond timestamps', () => {
    const json =
      '{"Name":"a/b","UUID":"0b2c5e0e-0000-4000-8000-000000000000","Offset":0,"StartedAt":"2024-05-01T10:20:30.123456789Z"}';
    const decoded = createUploadStateCodec('shared').unpack(goToken('shared', json));
    assert.equal(decoded.name, 'a/b');
    assert.equal(decoded.offset, 0);
    assert.equal(decoded.startedAt.toISOString(), '2024-05-01T10:20:30.123Z');
  });

  test('refuses a token signed with another secret', () => {
    const token = createUploadStateCodec('one').pack(state);
    assert.throws(() => createUploadStateCodec('two').unpack(token), UploadStateError);
  });

  test('refuses any single changed character, a truncated token and garbage', () => {
    const codec = createUploadStateCodec('s3cret');
    const token = codec.pack(state);
    for (const at of [0, 10, 43, 44, 60, token.length - 3]) {
      const char = token[at] === 'A' ? 'B' : 'A';
      const tampered = token.slice(0, at) + char + token.slice(at + 1);
      assert.throws(() => codec.unpack(tampered), UploadStateError, `changed at ${at}`);
    }
    for (const bad of [null, undefined, '', 'x', token.slice(0, 40), `${token}!`, 'a'.repeat(5000)]) {
      assert.throws(() => codec.unpack(bad), UploadStateError, String(bad).slice(0, 20));
    }
  });

  test('refuses a correctly signed document that is not an upload state', () => {
    for (const json of ['[]', '{"Name":"a","UUID":"b","Offset":-1,"StartedAt":"2024-05-01T10:20:30Z"}', 'not json']) {
      assert.throws(() => createUploadStateCodec('k').unpack(goToken('k', json)), UploadStateError, json);
    }
  });

  test('carries Berth’s digest of the bytes so far as an extra field distribution ignores', () => {
    const codec = createUploadStateCodec('s3cret');
    const sha256 = 'ab'.repeat(32);
    const token = codec.pack({ ...state, sha256 });
    assert.deepEqual(codec.unpack(token), { ...state, sha256 });
    const json = JSON.parse(Buffer.from(token, 'base64url').subarray(32).toString('utf8')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(json), ['Name', 'UUID', 'Offset', 'StartedAt', 'BerthSHA256']);
    for (const bad of ['"AB"', '"xyz"', '12', `"${'A'.repeat(64)}"`]) {
      const doc = `{"Name":"a","UUID":"b","Offset":1,"StartedAt":"2024-05-01T10:20:30Z","BerthSHA256":${bad}}`;
      assert.throws(() => codec.unpack(goToken('s3cret', doc)), UploadStateError, bad);
    }
  });

  test('an empty secret is a programming error', () => {
    assert.throws(() => createUploadStateCodec(''), /must not be empty/);
  });
});
