/**
 * Running the real client tools (skopeo, podman, buildah, umoci) and Debian's `docker-registry`
 * (CNCF distribution 2.8) from tests: bounded in time, output captured, failures carrying stderr.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RunOptions {
  /** Kills the process (SIGKILL) and rejects after this long; default 120 s. */
  timeoutMs?: number;
  /** Full environment of the child; default the test process's environment. */
  env?: NodeJS.ProcessEnv;
  /** Working directory of the child; default the test process's. */
  cwd?: string;
  /** Written to the child's stdin, which is then closed; without it stdin is empty. */
  input?: string | Buffer;
  /** Kills the process (SIGKILL) and rejects when aborted. */
  signal?: AbortSignal;
}

export interface RunResult {
  /** Everything the command wrote to stdout, decoded as UTF-8. */
  stdout: string;
  /** Everything the command wrote to stderr, decoded as UTF-8. */
  stderr: string;
}

/** A command that exited non-zero, was killed, or timed out; the message includes its stderr. */
export class CommandError extends Error {
  readonly command: string;
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;

  constructor(command: string, exitCode: number | null, why: string, stdout: string, stderr: string) {
    super(`${command}: ${why}\n--- stderr ---\n${tail(stderr)}\n--- stdout ---\n${tail(stdout)}`);
    this.name = 'CommandError';
    this.command = command;
    this.exitCode = exitCode;
    this.stdout = stdout;
    this.stderr = stderr;
  }
}

/** Keeps error messages readable when a tool ran with `--debug`. */
function tail(text: string, max = 8000): string {
  return text.length <= max ? text : `…${text.slice(-max)}`;
}

/**
 * Runs `cmd args…` without a shell and resolves with its output once it exits 0.
 * @throws CommandError on a non-zero exit, a signal, a timeout or an abort
 */
export function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const { timeoutMs = 120_000, env = process.env, cwd, input, signal } = options;
  const shown = [cmd, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let why: string | undefined;
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    const kill = (reason: string): void => {
      why ??= reason;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => kill(`timed out after ${timeoutMs} ms`), timeoutMs);
    const onAbort = (): void => kill('aborted');
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();
    // A child that exits without reading stdin makes the write fail with EPIPE; the exit code tells the story.
    child.stdin.on('error', () => {});
    child.stdin.end(input);
    child.on('error', (error) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      reject(new CommandError(shown, null, `could not start: ${error.message}`, '', ''));
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (why === undefined && code === 0) resolve({ stdout, stderr });
      else reject(new CommandError(shown, code, why ?? (sig ? `killed by ${sig}` : `exited ${code}`), stdout, stderr));
    });
  });
}

export function sha256Hex(bytes: string | Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** `sha256:<hex>` of the given bytes, as registries name content. */
export function digestOf(bytes: string | Uint8Array): string {
  return `sha256:${sha256Hex(bytes)}`;
}

/** A port that was free a moment ago on 127.0.0.1 (bound to port 0, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/** Polls `GET <url>/v2/` until it answers 200 or 401, the registry's sign of life. */
export async function waitForRegistry(url: string, timeoutMs = 20_000, isAlive: () => boolean = () => true) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (!isAlive()) throw new Error(`registry at ${url} exited before it was ready`);
    try {
      const response = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (response.status === 200 || response.status === 401) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`registry at ${url} not ready after ${timeoutMs} ms: ${last}`);
}

/** A running `docker-registry serve` (CNCF distribution 2.8) child process. */
export interface DockerRegistry {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `127.0.0.1:<port>`, the host part of image references. */
  readonly host: string;
  readonly port: number;
  /** The filesystem driver's rootdirectory it serves. */
  readonly rootDir: string;
  /** Everything it logged so far (stdout and stderr), for failure messages. */
  log(): string;
  /** Stops it (SIGTERM, then SIGKILL after 5 s) and removes its config directory; idempotent. */
  stop(): Promise<void>;
}

export interface DockerRegistryOptions {
  /** Serve this storage directory (created when missing). */
  rootDir: string;
  /** `storage.delete.enabled`; default true. */
  deleteEnabled?: boolean;
  /** `http.secret`, to share upload sessions with Berth replicas configured with the same one. */
  secret?: string;
  /** Further top-level config.yml sections, as YAML text (e.g. an `auth:` section). */
  extraConfig?: string;
}

/**
 * Starts Debian's `docker-registry` on a free port of 127.0.0.1 with filesystem storage at
 * `rootDir`, and waits until `GET /v2/` answers. Retries on another port when the one picked
 * was taken between probing and binding.
 */
export async function startDockerRegistry(options: DockerRegistryOptions): Promise<DockerRegistry> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startDockerRegistryOnce(options);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

async function startDockerRegistryOnce(options: DockerRegistryOptions): Promise<DockerRegistry> {
  const port = await freePort();
  const configDir = await mkdtemp(join(tmpdir(), 'berth-distribution-'));
  const configPath = join(configDir, 'config.yml');
  await writeFile(
    configPath,
    [
      'version: 0.1',
      'log:',
      '  level: info',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${JSON.stringify(options.rootDir)}`,
      '  delete:',
      `    enabled: ${options.deleteEnabled ?? true}`,
      'http:',
      `  addr: 127.0.0.1:${port}`,
      ...(options.secret === undefined ? [] : [`  secret: ${JSON.stringify(options.secret)}`]),
      options.extraConfig ?? '',
      '',
    ].join('\n'),
  );
  const logged: Buffer[] = [];
  const child = spawn('docker-registry', ['serve', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // Distribution overlays REGISTRY_* variables on the file; a stray one must not change the test.
    env: Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('REGISTRY_'))),
  });
  child.stdout.on('data', (chunk: Buffer) => logged.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => logged.push(chunk));
  const exited = exitPromise(child);
  // A test process that dies (or is killed by the runner's timeout) must not leave a registry behind.
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const url = `http://127.0.0.1:${port}`;
  const log = (): string => Buffer.concat(logged).toString('utf8');
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      process.removeListener('exit', killOnExit);
      await rm(configDir, { recursive: true, force: true });
    })();
    return stopped;
  };
  try {
    await waitForRegistry(url, 20_000, () => child.exitCode === null && child.signalCode === null);
  } catch (error) {
    await stop();
    throw new Error(`docker-registry did not start: ${String(error)}\n${log()}`);
  }
  return { url, host: `127.0.0.1:${port}`, port, rootDir: options.rootDir, log, stop };
}

function exitPromise(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/** The TLS flags that make skopeo speak plain HTTP to a registry on 127.0.0.1. */
const SKOPEO_INSECURE: Record<string, readonly string[]> = {
  copy: ['--src-tls-verify=false', '--dest-tls-verify=false'],
  inspect: ['--tls-verify=false'],
  'list-tags': ['--tls-verify=false'],
  delete: ['--tls-verify=false'],
};

/**
 * Runs `skopeo <subcommand> [insecure TLS flags] args…`; registries are reached over plain
 * HTTP (skopeo falls back to it when TLS verification is off).
 */
export function skopeo(subcommand: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const flags = SKOPEO_INSECURE[subcommand] ?? [];
  return run('skopeo', [subcommand, ...flags, ...args], { timeoutMs: 180_000, ...options });
}

/** The manifest skopeo reads from `ref` (`docker://…`, `oci:…`, `dir:…`), byte for byte, with its digest. */
export async function inspectRaw(ref: string): Promise<{ bytes: Buffer; digest: string; json: unknown }> {
  const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', '--raw', ref], {
    timeoutMs: 60_000,
  });
  // `--raw` prints the manifest exactly as served; run() decoded it as UTF-8, which manifests are.
  const bytes = Buffer.from(stdout, 'utf8');
  return { bytes, digest: digestOf(bytes), json: JSON.parse(stdout) as unknown };
}
