/**
 * The configuration a cluster primary hands its workers (over node:cluster's IPC channel, which
 * serialises messages as JSON, so they need not load yaml and the schema): it must arrive exactly as
 * validated.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/load.js';

const RICH = [
  'version: 0.1',
  'log:',
  '  level: debug',
  '  formatter: json',
  '  fields:',
  '    service: registry',
  '  accesslog:',
  '    disabled: false',
  'storage:',
  '  filesystem:',
  '    rootdirectory: /var/lib/registry',
  '  delete:',
  '    enabled: true',
  '  cache:',
  '    blobdescriptor: inmemory',
  '  maintenance:',
  '    uploadpurging:',
  '      enabled: true',
  '      age: 168h',
  '      interval: 24h',
  '      dryrun: false',
  '  redirect:',
  '    disable: true',
  'http:',
  '  addr: :5000',
  '  secret: s3cr3t',
  '  relativeurls: true',
  '  draintimeout: 10s',
  '  workers: 2',
  '  headers:',
  '    X-Content-Type-Options: [nosniff]',
  '  limits:',
  '    maxmanifestbytes: 2MiB',
  '    idletimeout: 90s',
  'notifications:',
  '  events:',
  '    includereferences: true',
  '  endpoints:',
  '    - name: hook',
  '      url: http://hook.example/events',
  '      headers:',
  '        Authorization: [Bearer x]',
  '      timeout: 1500ms',
  '      threshold: 5',
  '      backoff: 2s',
  '      ignoredmediatypes: [application/octet-stream]',
  'health:',
  '  storagedriver:',
  '    enabled: true',
  '    interval: 10s',
  '    threshold: 3',
  '',
].join('\n');

describe('configuration handed to cluster workers', () => {
  it('survives the JSON hand-over unchanged', () => {
    const { config, warnings } = parseConfig(RICH, { env: {} });
    assert.deepEqual(warnings, []);
    assert.deepEqual(JSON.parse(JSON.stringify(config)), config);
    const defaults = parseConfig('version: 0.1\nstorage: inmemory\n', { env: {} }).config;
    assert.deepEqual(JSON.parse(JSON.stringify(defaults)), defaults);
  });
});
