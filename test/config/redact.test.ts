import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { isCredentialKey, REDACTED, redactConfig, renderConfig } from '../../src/config/redact.js';

const SECRETS = `version: 0.1
storage:
  s3:
    accesskey: AKIAEXAMPLE
    secretkey: s3-secret-value
    sessiontoken: s3-session-token
    bucket: images
    keyid: kms-key-id
http:
  secret: http-secret-value
  tls:
    certificate: /certs/tls.crt
    key: /certs/tls.key
redis:
  addr: redis:6379
  password: redis-password-value
proxy:
  remoteurl: https://user:proxy-url-password@registry-1.docker.io
  username: user
  password: proxy-password-value
notifications:
  endpoints:
    - name: hook
      url: https://hook.example/events
      headers:
        Authorization: [Bearer notification-token]
        X-Trace: [visible-header]
health:
  http:
    - uri: http://upstream/health
      headers:
        Authorization: [Basic health-credential]
compatibility:
  schema1:
    signingkeyfile: /etc/key.json
`;

const AZURE = `version: 0.1
storage:
  azure:
    accountname: acct
    accountkey: azure-account-key-value
    container: images
    credentials:
      type: client_secret
      clientid: client-id
      secret: azure-client-secret
`;

const GCS = `version: 0.1
storage:
  gcs:
    bucket: images
    keyfile: /etc/gcs.json
    credentials:
      type: service_account
      private_key_id: key-id
      private_key: "-----BEGIN PRIVATE KEY-----gcs-private-key"
      client_email: svc@example.iam.gserviceaccount.com
      token_uri: https://oauth2.googleapis.com/token
`;

describe('config redaction', () => {
  it('hides every credential and keeps everything else', () => {
    const { config } = parseConfig(SECRETS);
    const red = redactConfig(config);
    assert.equal(red.http.secret, REDACTED);
    assert.equal(red.redis?.password, REDACTED);
    assert.equal(red.storage.s3?.accesskey, REDACTED);
    assert.equal(red.storage.s3?.secretkey, REDACTED);
    assert.equal(red.storage.s3?.sessiontoken, REDACTED);
    assert.equal(red.proxy?.password, REDACTED);
    assert.equal(red.proxy?.remoteurl, `https://user:${REDACTED}@registry-1.docker.io`);
    assert.deepEqual(red.notifications?.endpoints?.[0]?.headers, {
      Authorization: [REDACTED],
      'X-Trace': ['visible-header'],
    });
    assert.deepEqual(red.health?.http?.[0]?.headers, { Authorization: [REDACTED] });
    // References to credentials, not credentials: left readable.
    assert.equal(red.storage.s3?.keyid, 'kms-key-id');
    assert.equal(red.http.tls?.key, '/certs/tls.key');
    assert.equal(red.compatibility?.schema1?.signingkeyfile, '/etc/key.json');
    assert.equal(red.proxy?.username, 'user');
    assert.equal(red.storage.s3?.bucket, 'images');
  });

  it('hides azure and gcs credentials', () => {
    const azure = redactConfig(parseConfig(AZURE).config).storage.azure;
    assert.equal(azure?.accountkey, REDACTED);
    assert.equal(azure?.credentials?.secret, REDACTED);
    assert.equal(azure?.credentials?.clientid, 'client-id');
    const gcs = redactConfig(parseConfig(GCS).config).storage.gcs;
    assert.equal(gcs?.credentials?.['private_key'], REDACTED);
    assert.equal(gcs?.credentials?.['token_uri'], 'https://oauth2.googleapis.com/token');
    assert.equal(gcs?.keyfile, '/etc/gcs.json');
  });

  it('does not modify the configuration it is given', () => {
    const { config } = parseConfig(SECRETS);
    redactConfig(config);
    assert.equal(config.http.secret, 'http-secret-value');
  });

  it('classifies key names', () => {
    for (const name of [
      'password',
      'secret',
      'secretkey',
      'accesskey',
      'accountkey',
      'sessiontoken',
      'private_key',
      'apikey',
    ]) {
      assert.ok(isCredentialKey(name), name);
    }
    for (const name of [
      'key',
      'keyid',
      'keyfile',
      'signingkeyfile',
      'rootcertbundle',
      'token_uri',
      'username',
      'realm',
    ]) {
      assert.ok(!isCredentialKey(name), name);
    }
  });
});

describe('renderConfig', () => {
  it('prints YAML with no secret in it', () => {
    for (const yaml of [SECRETS, AZURE, GCS]) {
      const text = renderConfig(parseConfig(yaml).config);
      for (const secret of [
        'AKIAEXAMPLE',
        's3-secret-value',
        's3-session-token',
        'http-secret-value',
        'redis-password-value',
        'proxy-url-password',
        'proxy-password-value',
        'notification-token',
        'health-credential',
        'azure-account-key-value',
        'azure-client-secret',
        'gcs-private-key',
      ]) {
        assert.ok(!text.includes(secret), `${secret} leaked:\n${text}`);
      }
    }
  });

  it('writes durations back as Go durations so the output is valid input', () => {
    const yaml = 'version: 0.1\nstorage: inmemory\nhttp:\n  draintimeout: 90s\nlog:\n  fields:\n    n: 5\n';
    const text = renderConfig(parseConfig(yaml).config);
    const printed = parse(text) as {
      http: { draintimeout: string };
      storage: { maintenance: { uploadpurging: { age: string } } };
    };
    assert.equal(printed.http.draintimeout, '1m30s');
    assert.equal(printed.storage.maintenance.uploadpurging.age, '168h0m0s');
    assert.deepEqual(parseConfig(text).config, parseConfig(yaml).config);
  });
});
