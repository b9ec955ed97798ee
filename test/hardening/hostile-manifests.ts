/**
 * The manifest cases of hostile-input.test.ts: bodies that are not JSON, JSON nested 100,000
 * levels deep (in the document, in layers, annotations and subject), invalid UTF-8, prototype-
 * pollution keys, thousands of missing references, oversized and mis-typed manifests.
 */
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, type PushedImage, sha256 } from '../helpers/http.js';
import { request } from './raw-http.js';

/** One hostile request and the answer the spec requires. */
export interface Case {
  /** What the case sends, for failure messages. */
  what: string;
  parts: Array<string | Buffer | number>;
  /** Accepted statuses (the first is the spec'd one; others only where HTTP allows a choice). */
  status: number | number[];
  /** The OCI error code, when the answer is one (several where the status decides). */
  code?: string | string[];
  /** Half-close after sending (a client that gave up mid-body). */
  end?: boolean;
}

/** Nesting depth of the deep-JSON cases: far past any recursive parser's stack. */
export const DEEP = 100_000;

/** Hostile manifest PUTs to `good/repo`, whose blobs `image` pushed. */
export function manifestCases(image: PushedImage): Case[] {
  const put = (tag: string, body: string | Buffer, type = OCI_MANIFEST) =>
    request('PUT', `/v2/good/repo/manifests/${tag}`, body, [['Content-Type', type]]);
  const { config, layer } = image;
  const missing = { mediaType: OCI_LAYER, digest: sha256('not pushed'), size: 10 };
  const base = { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] };
  const nest = (open: string, close: string) => `${open.repeat(DEEP)}${close.repeat(DEEP)}`;
  const cases: Case[] = [
    { what: 'not JSON', parts: [put('bad1', '{{{')], status: 400, code: 'MANIFEST_INVALID' },
    { what: 'empty body', parts: [put('bad2', '')], status: 400, code: 'MANIFEST_INVALID' },
    { what: 'JSON null', parts: [put('bad3', 'null')], status: 400, code: 'MANIFEST_INVALID' },
    { what: 'a JSON string', parts: [put('bad4', '"manifest"')], status: 400, code: 'MANIFEST_INVALID' },
    { what: `${DEEP} nested arrays`, parts: [put('bad5', nest('[', ']'))], status: 400, code: 'MANIFEST_INVALID' },
    {
      what: `${DEEP} nested objects`,
      parts: [put('bad6', `${'{"a":'.repeat(DEEP)}1${'}'.repeat(DEEP)}`)],
      status: 400,
      code: 'MANIFEST_INVALID',
    },
    {
      what: 'deep nesting in layers',
      parts: [
        put('bad7', JSON.stringify({ ...base, layers: [] }).replace('"layers":[]', `"layers":${nest('[', ']')}`)),
      ],
      status: 400,
      code: 'MANIFEST_INVALID',
    },
    {
      what: 'deep nesting in annotations',
      parts: [put('bad8', JSON.stringify(base).replace(/}$/, `,"annotations":{"x":${nest('[', ']')}}}`))],
      status: 400,
      code: 'MANIFEST_INVALID',
    },
    {
      what: 'deep nesting in the subject',
      parts: [
        put(
          'bad9',
          JSON.stringify(base).replace(/}$/, `,"subject":${'{"subject":'.repeat(DEEP)}{}${'}'.repeat(DEEP)}}`),
        ),
      ],
      status: 400,
      code: 'MANIFEST_INVALID',
    },
    {
      what: 'invalid UTF-8',
      parts: [
        put(
          'bad10',
          Buffer.concat([Buffer.from('{"schemaVersion":2,"x":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]),
        ),
      ],
      status: 400,
      code: 'MANIFEST_INVALID',
    },
    {
      what: 'schema version 1',
      parts: [put('bad11', JSON.stringify({ ...base, schemaVersion: 1 }))],
      status: 400,
      code: 'MANIFEST_INVALID',
    },
    {
      what: 'media type differs from Content-Type',
      parts: [put('bad12', JSON.stringify(base), 'application/vnd.docker.distribution.manifest.v2+json')],
      status: 400,
      code: 'MANIFEST_INVALID',
    },
    {
      what: 'config of the wrong kind',
      parts: [put('bad13', JSON.stringify({ ...base, config: 'sha256:00' }))],
      status: 400,
      code: 'MANIFEST_INVALID',
    },
    {
      what: '__proto__ keys with a missing blob',
      parts: [
        put(
          'bad14',
          `{"__proto__":{"polluted":"yes"},"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${JSON.stringify({
            ...config,
            mediaType: OCI_CONFIG,
            __proto__: null,
          })},"layers":[${JSON.stringify(missing)}],"constructor":{"prototype":{"polluted":"yes"}}}`,
        ),
      ],
      status: 404,
      code: 'MANIFEST_BLOB_UNKNOWN',
    },
    {
      what: '10,000 missing layers',
      parts: [
        put(
          'bad15',
          JSON.stringify({
            ...base,
            layers: Array.from({ length: 10_000 }, (_, i) => ({ ...missing, digest: sha256(`l${i}`) })),
          }),
        ),
      ],
      status: 404,
      code: 'MANIFEST_BLOB_UNKNOWN',
    },
    {
      what: 'over 4 MiB',
      parts: [put('bad16', JSON.stringify({ ...base, annotations: { x: 'x'.repeat(4 * 1024 * 1024 + 10) } }))],
      status: 413,
      code: 'MANIFEST_INVALID',
    },
    {
      what: 'digest reference that does not match the body',
      parts: [put(sha256('something else'), JSON.stringify(base))],
      status: 400,
      code: 'DIGEST_INVALID',
    },
  ];
  return cases;
}
