/** Small fetch-based helpers shared by the API tests. */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { type IncomingHttpHeaders, request } from 'node:http';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
export const EMPTY_JSON_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

export function sha256(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: { os: string; architecture: string };
}

/** Pushes a blob monolithically (`POST ?digest=`) and returns its digest. */
export async function pushBlob(
  base: string,
  name: string,
  bytes: Uint8Array | string,
  headers: Record<string, string> = {},
): Promise<string> {
  const digest = sha256(bytes);
  const res = await fetch(`${base}/v2/${name}/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/octet-stream', ...headers },
    body: typeof bytes === 'string' ? bytes : Buffer.from(bytes),
  });
  await res.arrayBuffer();
  assert.equal(res.status, 201, `push blob ${digest} to ${name}`);
  return digest;
}

/** Pushes a blob and returns its descriptor with the given media type. */
export async function pushDescriptor(
  base: string,
  name: string,
  bytes: Uint8Array | string,
  mediaType: string,
): Promise<Descriptor> {
  const digest = await pushBlob(base, name, bytes);
  return { mediaType, digest, size: Buffer.byteLength(bytes) };
}

export interface PushedManifest {
  digest: string;
  bytes: Buffer;
  response: Response;
}

/** PUTs a manifest (object or raw bytes) and asserts 201. */
export async function pushManifest(
  base: string,
  name: string,
  reference: string,
  manifest: object | Buffer,
  mediaType: string,
): Promise<PushedManifest> {
  const bytes = Buffer.isBuffer(manifest) ? manifest : Buffer.from(JSON.stringify(manifest));
  const response = await putManifest(base, name, reference, bytes, mediaType);
  const text = await response.text();
  assert.equal(response.status, 201, `push manifest ${name}:${reference}: ${text}`);
  return { digest: sha256(bytes), bytes, response };
}

export function putManifest(base: string, name: string, reference: string, bytes: Buffer, mediaType: string) {
  return fetch(`${base}/v2/${name}/manifests/${reference}`, {
    method: 'PUT',
    headers: { 'Content-Type': mediaType },
    body: bytes,
  });
}

export interface PushedImage {
  manifest: object;
  manifestDigest: string;
  manifestBytes: Buffer;
  config: Descriptor;
  layer: Descriptor;
  layerBytes: Buffer;
}

/** Pushes a one-layer image (config + random layer + manifest) and tags it. */
export async function pushImage(
  base: string,
  name: string,
  tag: string,
  opts: { docker?: boolean; subject?: Descriptor; artifactType?: string; layerSize?: number } = {},
): Promise<PushedImage> {
  const docker = opts.docker === true;
  const layerBytes = randomBytes(opts.layerSize ?? 1024);
  const configBody = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
  const config = await pushDescriptor(base, name, configBody, docker ? DOCKER_CONFIG : OCI_CONFIG);
  const layer = await pushDescriptor(base, name, layerBytes, docker ? DOCKER_LAYER : OCI_LAYER);
  const manifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: docker ? DOCKER_MANIFEST : OCI_MANIFEST,
    config,
    layers: [layer],
  };
  if (opts.artifactType !== undefined) manifest['artifactType'] = opts.artifactType;
  if (opts.subject !== undefined) manifest['subject'] = opts.subject;
  const pushed = await pushManifest(base, name, tag, manifest, docker ? DOCKER_MANIFEST : OCI_MANIFEST);
  return { manifest, manifestDigest: pushed.digest, manifestBytes: pushed.bytes, config, layer, layerBytes };
}

/** Asserts an OCI error response: status, JSON body with `code`, and the API version header. */
export async function assertError(res: Response, status: number, code: string): Promise<{ message: string }> {
  const text = await res.text();
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${text}`);
  assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const body = JSON.parse(text) as { errors: Array<{ code: string; message: string; detail?: unknown }> };
  assert.equal(body.errors.length, 1);
  const [error] = body.errors;
  assert.ok(error);
  assert.equal(error.code, code);
  assert.equal(typeof error.message, 'string');
  assert.ok('detail' in error, 'error has a detail field');
  return error;
}

/** Starts an upload session and returns its Location (absolute). */
export async function startUpload(base: string, name: string): Promise<string> {
  const res = await fetch(`${base}/v2/${name}/blobs/uploads/`, { method: 'POST' });
  await res.arrayBuffer();
  assert.equal(res.status, 202);
  const location = res.headers.get('location');
  assert.ok(location);
  return new URL(location, base).toString();
}

/** Appends `?digest=` (or `&digest=`) to an upload URL. */
export function withDigest(uploadUrl: string, digest: string): string {
  const url = new URL(uploadUrl);
  url.searchParams.set('digest', digest);
  return url.toString();
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * A request over node:http, for what fetch cannot do: a chosen `Host` header, exact
 * Content-Length/Transfer-Encoding control, or a body sent in separate chunks.
 */
export async function rawRequest(
  url: string,
  opts: {
    method?: string;
    headers?: Record<string, string | number | string[]>;
    body?: Buffer | Buffer[] | undefined;
  } = {},
): Promise<RawResponse> {
  return new Promise<RawResponse>((resolve, reject) => {
    // The path is sent exactly as given: `new URL` would resolve `..` segments away.
    const { hostname, port, origin } = new URL(url);
    const path = url.slice(origin.length) || '/';
    const options = { hostname, port, path, method: opts.method ?? 'GET', headers: opts.headers ?? {} };
    const req = request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    const body = opts.body;
    if (Array.isArray(body)) for (const chunk of body) req.write(chunk);
    else if (body !== undefined) req.write(body);
    req.end();
  });
}
