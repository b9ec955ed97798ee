/**
 * The Distribution API calls the benchmark makes, on the raw client: the same requests for
 * every registry (POST then PUT for a monolithic push, as docker and containerd do; PATCH
 * chunks with Content-Range; mounts; manifests by tag).
 */
import { createHash } from 'node:crypto';
import { expectStatus, type HttpConnection } from './http-client.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const MANIFEST_ACCEPT = [
  OCI_MANIFEST,
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

export function digestOf(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The path (and query) of a `Location` header, which may be an absolute URL. */
export function locationPath(location: string | undefined): string {
  if (location === undefined) throw new Error('response without Location');
  if (location.startsWith('/')) return location;
  const url = new URL(location);
  return `${url.pathname}${url.search}`;
}

function withQuery(path: string, query: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}${query}`;
}

/** Starts an upload session; @returns the session's path. */
export async function startUpload(conn: HttpConnection, repo: string): Promise<string> {
  const started = expectStatus(
    await conn.request({ method: 'POST', path: `/v2/${repo}/blobs/uploads/`, keepBody: true }),
    202,
  );
  return locationPath(started.headers['location']);
}

/** POST, then PUT `?digest=` with the whole body. */
export async function pushMonolithic(conn: HttpConnection, repo: string, data: Buffer, digest: string): Promise<void> {
  const session = await startUpload(conn, repo);
  expectStatus(
    await conn.request({
      method: 'PUT',
      path: withQuery(session, `digest=${encodeURIComponent(digest)}`),
      headers: { 'Content-Type': 'application/octet-stream' },
      body: data,
      keepBody: true,
    }),
    201,
  );
}

/** POST, one PATCH per `chunkBytes` with Content-Range, then an empty PUT `?digest=`. */
export async function pushChunked(
  conn: HttpConnection,
  repo: string,
  data: Buffer,
  digest: string,
  chunkBytes: number,
): Promise<void> {
  let session = await startUpload(conn, repo);
  for (let at = 0; at < data.length; at += chunkBytes) {
    const chunk = data.subarray(at, Math.min(data.length, at + chunkBytes));
    const patched = expectStatus(
      await conn.request({
        method: 'PATCH',
        path: session,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${at}-${at + chunk.length - 1}` },
        body: chunk,
        keepBody: true,
      }),
      202,
    );
    session = locationPath(patched.headers['location']);
  }
  expectStatus(
    await conn.request({
      method: 'PUT',
      path: withQuery(session, `digest=${encodeURIComponent(digest)}`),
      keepBody: true,
    }),
    201,
  );
}

/** GETs a blob, counting (not keeping) its bytes; @returns the byte count. */
export async function pullBlob(conn: HttpConnection, repo: string, digest: string): Promise<number> {
  const response = await conn.request({ method: 'GET', path: `/v2/${repo}/blobs/${digest}` });
  expectStatus(response, 200);
  return response.bodyBytes;
}

/** Cross-repository mount; @returns whether the registry mounted (201) rather than opened a session. */
export async function mountBlob(conn: HttpConnection, repo: string, digest: string, from: string): Promise<boolean> {
  const response = await conn.request({
    method: 'POST',
    path: `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`,
    keepBody: true,
  });
  expectStatus(response, 201, 202);
  return response.status === 201;
}

export async function putManifest(
  conn: HttpConnection,
  repo: string,
  reference: string,
  manifest: Buffer,
  mediaType = OCI_MANIFEST,
): Promise<void> {
  expectStatus(
    await conn.request({
      method: 'PUT',
      path: `/v2/${repo}/manifests/${reference}`,
      headers: { 'Content-Type': mediaType },
      body: manifest,
      keepBody: true,
    }),
    201,
  );
}

/** A small OCI image: its config, one layer, and the manifest over them. */
export interface SmallImage {
  config: Buffer;
  configDigest: string;
  layer: Buffer;
  layerDigest: string;
  manifest: Buffer;
  manifestDigest: string;
}

export function smallImage(layer: Buffer): SmallImage {
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [digestOf(layer)] },
      config: {},
    }),
  );
  const configDigest = digestOf(config);
  const layerDigest = digestOf(layer);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
      layers: [{ mediaType: OCI_LAYER, digest: layerDigest, size: layer.length }],
    }),
  );
  return { config, configDigest, layer, layerDigest, manifest, manifestDigest: digestOf(manifest) };
}
