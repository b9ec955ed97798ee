/** Shared pieces of the auth tests: htpasswd files, credentials, log capture, token requests. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { type Logger, pino } from 'pino';
import { htpasswdLine } from '../../src/auth/htpasswd.js';
import { OCI_MANIFEST, sha256 } from '../helpers/http.js';

/** bcrypt cost for test users: the minimum, so the suite stays fast. */
export const TEST_COST = 4;

/** A temp dir removed by `cleanup()`. */
export async function tempDir(prefix: string): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes an htpasswd file with bcrypt entries for `users` (name → password). */
export async function writeHtpasswd(path: string, users: Record<string, string>): Promise<void> {
  const lines = await Promise.all(Object.entries(users).map(([u, p]) => htpasswdLine(u, p, TEST_COST)));
  await writeFile(path, `${lines.join('\n')}\n`);
}

/** The `Authorization` header value for Basic credentials. */
export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

export type LogLine = Record<string, unknown>;

/** A pino logger whose JSON lines are collected in `lines`. */
export function capturingLogger(level = 'info'): { logger: Logger; lines: LogLine[]; text(): string } {
  const lines: LogLine[] = [];
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) {
        if (line === '') continue;
        raw.push(line);
        lines.push(JSON.parse(line) as LogLine);
      }
      callback();
    },
  });
  return { logger: pino({ level }, sink), lines, text: () => raw.join('\n') };
}

/** Waits until `predicate` holds, polling every 20 ms, failing after `timeoutMs`. */
export async function eventually(predicate: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) assert.fail(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Parses `Bearer realm="…",service="…",scope="…",error="…"` into its parameters. */
export function parseChallenge(header: string | null): { scheme: string; params: Record<string, string> } {
  assert.ok(header, 'a WWW-Authenticate header');
  const space = header.indexOf(' ');
  const scheme = header.slice(0, space);
  const params: Record<string, string> = {};
  for (const m of header.slice(space + 1).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
    params[m[1] as string] = (m[2] as string).replace(/\\(.)/g, '$1');
  }
  return { scheme, params };
}

/** Fetches and asserts the status, returning the response's parsed JSON body (or null). */
export async function expectStatus(res: Response, status: number, what: string): Promise<unknown> {
  const text = await res.text();
  assert.equal(res.status, status, `${what}: expected ${status}, got ${res.status}: ${text}`);
  return text === '' ? null : (JSON.parse(text) as unknown);
}

/** The `errors[0].code` of an OCI error body. */
export function errorCode(body: unknown): string | undefined {
  return (body as { errors?: Array<{ code?: string }> } | null)?.errors?.[0]?.code;
}

/** Pushes a one-blob OCI image with `auth` on every request; returns the manifest PUT (or the failed blob POST) response. */
export async function pushWith(base: string, name: string, tag: string, auth: string | undefined): Promise<Response> {
  const headers: Record<string, string> = auth === undefined ? {} : { Authorization: auth };
  const config = Buffer.from(`{"tag":"${name}:${tag}"}`);
  const digest = sha256(config);
  const blob = await fetch(`${base}/v2/${name}/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    headers: { ...headers, 'Content-Type': 'application/octet-stream' },
    body: config,
  });
  if (blob.status !== 201) return blob;
  await blob.arrayBuffer();
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: config.length },
    layers: [],
  };
  return fetch(`${base}/v2/${name}/manifests/${tag}`, {
    method: 'PUT',
    headers: { ...headers, 'Content-Type': OCI_MANIFEST },
    body: JSON.stringify(manifest),
  });
}
