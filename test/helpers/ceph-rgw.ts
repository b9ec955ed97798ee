/**
 * A real S3 server for tests: a throwaway single-node Ceph RADOS Gateway started by the shared
 * `services/ceph-rgw` script (the `shared/` folder beside the repository) on free loopback ports,
 * so several test files can each run their own. Start one per test file; `stop()` ends it.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { freePort } from './tools.js';

const run = promisify(execFile);

export interface CephRgw {
  /** `http://127.0.0.1:<port>`: path-style S3 endpoint. */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  /** An SDK client for inspecting buckets behind the driver's back. */
  client: S3Client;
  /** Creates a bucket no other caller of this function gets and returns its name. */
  createBucket(prefix?: string): Promise<string>;
  /** Every key in `bucket` below `prefix` (default: all), as the server lists them, page by page. */
  listKeys(bucket: string, prefix?: string): Promise<string[]>;
  /** `storage.s3` parameters for `bucket` (and an optional root directory). */
  parameters(bucket: string, rootdirectory?: string): Record<string, unknown>;
  /** Stops the daemons and removes their directory. */
  stop(): Promise<void>;
}

/** The repository root: the nearest ancestor of this file holding package.json. */
function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the repository root above test/helpers');
    dir = parent;
  }
  return dir;
}

/** The shared start/stop script, beside the repository as in CI (`<clone>/../shared`). */
export function cephRgwScript(): string {
  return resolve(repositoryRoot(), '..', 'shared', 'services', 'ceph-rgw');
}

async function logsOf(dir: string): Promise<string> {
  try {
    const names = await readdir(join(dir, 'log'));
    const tails = await Promise.all(
      names.map(async (name) => `--- ${name}\n${(await readFile(join(dir, 'log', name), 'utf8')).slice(-2000)}`),
    );
    return tails.join('\n');
  } catch {
    return '(no logs)';
  }
}

/** Starts the gateway (about 15 s) and resolves once it serves S3. */
export async function startCephRgw(): Promise<CephRgw> {
  const script = cephRgwScript();
  const dir = await mkdtemp(join(tmpdir(), 'berth-rgw-'));
  const [rgwPort, monV1, monV2] = [await freePort(), await freePort(), await freePort()];
  const env = {
    ...process.env,
    RGW_PORT: String(rgwPort),
    MON_V1: String(monV1),
    MON_V2: String(monV2),
    MEMSTORE_BYTES: String(1024 * 1024 * 1024),
  };
  // A test process that ends without stop() (a failed hook, an uncaught error) must not leave the daemons behind.
  const killOnExit = (): void => {
    let names: string[] = [];
    try {
      names = readdirSync(join(dir, 'run')).filter((name) => name.endsWith('.pid'));
    } catch {
      return; // never started
    }
    for (const name of names) {
      try {
        process.kill(Number(readFileSync(join(dir, 'run', name), 'utf8').trim()), 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  };
  process.once('exit', killOnExit);
  const down = async (): Promise<void> => {
    process.removeListener('exit', killOnExit);
    await run('bash', [script, 'down', dir], { env, timeout: 60_000 }).catch(() => undefined);
  };
  let stdout: string;
  try {
    ({ stdout } = await run('bash', [script, 'up', dir], { env, timeout: 240_000 }));
  } catch (error) {
    const logs = await logsOf(dir);
    await down();
    throw new Error(`ceph-rgw did not start: ${(error as Error).message}\n${logs}`);
  }
  const match = /endpoint=(\S+) access_key=(\S+) secret_key=(\S+)/.exec(stdout);
  if (match === null) {
    await down();
    throw new Error(`ceph-rgw printed no endpoint:\n${stdout}`);
  }
  const [, endpoint = '', accessKey = '', secretKey = ''] = match;
  const client = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
  });
  let counter = 0;
  return {
    endpoint,
    accessKey,
    secretKey,
    client,
    async createBucket(prefix = 'berth') {
      counter++;
      const bucket = `${prefix}-${counter}-${randomBytes(4).toString('hex')}`;
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      return bucket;
    },
    async listKeys(bucket, prefix = '') {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: prefix,
            ...(token === undefined ? {} : { ContinuationToken: token }),
          }),
        );
        for (const item of page.Contents ?? []) if (item.Key !== undefined) keys.push(item.Key);
        token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
      return keys;
    },
    parameters(bucket, rootdirectory) {
      return {
        bucket,
        region: 'us-east-1',
        regionendpoint: endpoint,
        forcepathstyle: true,
        accesskey: accessKey,
        secretkey: secretKey,
        ...(rootdirectory === undefined ? {} : { rootdirectory }),
      };
    },
    async stop() {
      client.destroy();
      await down();
    },
  };
}

/**
 * One gateway for the calling test file: registers a `before` hook that starts it (about 15 s),
 * then runs `setup` with it, and an `after` hook that stops it. Set-up that needs the gateway
 * belongs in `setup`: Node 20 runs a file's top-level `before` hooks concurrently, not in turn.
 * @returns the running gateway; throws when called before the `before` hook has run.
 */
export function useCephRgw(setup?: (rgw: CephRgw) => Promise<void>): () => CephRgw {
  let rgw: CephRgw | undefined;
  before(
    async () => {
      rgw = await startCephRgw();
      await setup?.(rgw);
    },
    { timeout: 300_000 },
  );
  after(async () => {
    await rgw?.stop();
  });
  return () => {
    if (rgw === undefined) throw new Error('the ceph-rgw gateway is not running yet');
    return rgw;
  };
}

/** A TCP relay in front of an endpoint that counts the bytes going each way. */
export interface CountingProxy {
  /** `http://127.0.0.1:<port>`: use it in place of the target endpoint. */
  endpoint: string;
  /** Bytes clients sent towards the target so far (request lines, headers and bodies). */
  readonly sent: number;
  /** Bytes the target sent back so far. */
  readonly received: number;
  close(): Promise<void>;
}

/**
 * Relays TCP connections to `target` (an `http://host:port` URL) unchanged, so signed requests
 * stay valid, and counts what passes: the way to prove how much a driver uploads.
 */
export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const { hostname, port } = new URL(target);
  let sent = 0;
  let received = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk: Buffer) => {
      sent += chunk.length;
    });
    upstream.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolveListen);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    get sent() {
      return sent;
    },
    get received() {
      return received;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
    },
  };
}
