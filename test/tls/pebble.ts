/**
 * Debian's `pebble` (Let's Encrypt's ACME test server) and `pebble-challtestsrv` (its mock DNS,
 * answering every name with 127.0.0.1) on loopback, plus Berth itself as a child process — so
 * the ACME client runs exactly as in production, trusting pebble's listener through
 * NODE_EXTRA_CA_CERTS rather than through any test hook.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BERTH_MAIN } from '../helpers/berth-binary.js';
import { freePort, run } from '../helpers/tools.js';
import { curl } from './probe.js';

export interface Daemon {
  /** Everything it printed so far. */
  log(): string;
  /** Whether it is still running. */
  alive(): boolean;
  /** SIGTERM, then SIGKILL after 5 s; resolves once it exited. Idempotent. */
  stop(): Promise<void>;
}

/** Starts `cmd args…` in the background, collecting its output; killed if the test process exits. */
export function startDaemon(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Daemon {
  const output: Buffer[] = [];
  const child: ChildProcess = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk));
  let failed = false;
  child.on('error', (error) => {
    failed = true;
    output.push(Buffer.from(`${cmd}: ${error.message}\n`));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', kill);
  let stopping: Promise<void> | undefined;
  return {
    log: () => Buffer.concat(output).toString('utf8'),
    alive: () => !failed && child.exitCode === null && child.signalCode === null,
    stop() {
      stopping ??= (async () => {
        if (!failed && child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(kill, 5000);
          await exited;
          clearTimeout(timer);
        }
        process.removeListener('exit', kill);
      })();
      return stopping;
    },
  };
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`. */
export async function waitForPort(port: number, daemon: Daemon, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!daemon.alive()) throw new Error(`exited before listening on ${port}:\n${daemon.log()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await sleep(50);
  }
  throw new Error(`nothing listening on ${port} after ${timeoutMs} ms:\n${daemon.log()}`);
}

export interface Pebble {
  /** The ACME directory URL. */
  directoryUrl: string;
  /** PEM of the root that pebble's issued chains end in (new for every pebble start). */
  root(): Promise<string>;
  daemon: Daemon;
}

/** The flags pebble-challtestsrv knows (the set differs between pebble releases). */
async function challtestsrvFlags(): Promise<string> {
  try {
    const { stdout, stderr } = await run('pebble-challtestsrv', ['-h'], { timeoutMs: 10_000 });
    return stdout + stderr;
  } catch (error) {
    // Go's flag package may exit non-zero after printing the usage.
    return String((error as { stderr?: string }).stderr ?? '');
  }
}

/**
 * Starts pebble-challtestsrv as the DNS server answering 127.0.0.1 for every name, with all of its
 * own challenge servers off (Berth answers the challenges).
 * @returns the DNS address for pebble's `-dnsserver`
 */
export async function startChallTestSrv(): Promise<{ dns: string; daemon: Daemon }> {
  const flags = await challtestsrvFlags();
  const dnsPort = await freePort();
  const managementPort = await freePort();
  const args = ['-management', `127.0.0.1:${managementPort}`, '-dns01', `127.0.0.1:${dnsPort}`];
  for (const off of ['http01', 'https01', 'tlsalpn01', 'doh']) if (flags.includes(`-${off}`)) args.push(`-${off}`, '');
  args.push('-defaultIPv4', '127.0.0.1', '-defaultIPv6', '');
  const daemon = startDaemon('pebble-challtestsrv', args);
  await waitForPort(managementPort, daemon);
  return { dns: `127.0.0.1:${dnsPort}`, daemon };
}

export interface PebbleOptions {
  /** Working directory for pebble's configuration. */
  dir: string;
  /** Certificate and key for pebble's own HTTPS listener. */
  cert: string;
  key: string;
  /** The CA that issued `cert`, to talk to pebble while waiting for it. */
  ca: string;
  /** Where pebble sends TLS-ALPN-01 validations: the registry's port. */
  tlsPort: number;
  /** pebble's resolver (pebble-challtestsrv). */
  dns: string;
}

/** Starts pebble with real validation (no sleeps, no nonce rejections, no authorisation reuse). */
export async function startPebble(options: PebbleOptions): Promise<Pebble> {
  const acmePort = await freePort();
  const managementPort = await freePort();
  const config = join(options.dir, `pebble-${acmePort}.json`);
  await writeFile(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: options.cert,
        privateKey: options.key,
        httpPort: await freePort(),
        tlsPort: options.tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  );
  const daemon = startDaemon('pebble', ['-config', config, '-dnsserver', options.dns], {
    ...process.env,
    PEBBLE_VA_NOSLEEP: '1',
    PEBBLE_WFE_NONCEREJECT: '0',
    PEBBLE_AUTHZREUSE: '0',
  });
  const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (!daemon.alive()) throw new Error(`pebble exited:\n${daemon.log()}`);
    const res = await curl(directoryUrl, ['--cacert', options.ca]);
    if (res.status === 200) break;
    if (Date.now() > deadline) throw new Error(`pebble not ready: ${res.stderr}\n${daemon.log()}`);
    await sleep(100);
  }
  return {
    directoryUrl,
    daemon,
    async root() {
      // The management listener serves it; pebble releases before that one served /root.
      for (const url of [`https://127.0.0.1:${managementPort}/roots/0`, `https://127.0.0.1:${acmePort}/root`]) {
        const res = await curl(url, ['--cacert', options.ca]);
        if (res.status === 200 && res.body.includes('BEGIN CERTIFICATE')) return res.body;
      }
      throw new Error(`cannot fetch pebble's root certificate:\n${daemon.log()}`);
    },
  };
}

/** `node dist/berth/main.mjs serve <config>` with `env` added to a REGISTRY_*-free environment. */
export function startBerth(configPath: string, env: NodeJS.ProcessEnv): Daemon {
  const base = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('REGISTRY_')));
  return startDaemon(process.execPath, ['--enable-source-maps', BERTH_MAIN, 'serve', configPath], { ...base, ...env });
}
