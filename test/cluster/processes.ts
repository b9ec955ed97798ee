/**
 * Real processes for the load-balanced test: Berth replicas (`node dist/berth/main.mjs serve`)
 * whose JSON log lines are kept per replica, and Debian's haproxy in front of them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { stringify } from 'yaml';
import { BERTH_MAIN } from '../helpers/berth-binary.js';
import { freePort, waitForRegistry } from '../helpers/tools.js';

/** One line of Berth's JSON log. */
export interface LogLine {
  msg: string;
  method?: string;
  path?: string;
  status?: number;
  [key: string]: unknown;
}

export interface Replica {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** Every log line so far, parsed. */
  logs(): LogLine[];
  /** The access-log lines (`msg: request`). */
  requests(): LogLine[];
  /** Bytes this process has read so far (sockets included), from /proc/<pid>/io. */
  bytesRead(): Promise<number>;
  /** SIGKILL, no goodbye. */
  kill(): void;
  /** SIGTERM, then SIGKILL after 10 s; resolves when it is gone. Idempotent. */
  stop(): Promise<void>;
}

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Starts `berth serve <dir>/<name>.yml` with `config` (a config.yml object) on a free port. */
export async function startReplica(dir: string, name: string, config: Record<string, unknown>): Promise<Replica> {
  const port = await freePort();
  const http = { ...(config['http'] as Record<string, unknown> | undefined), addr: `127.0.0.1:${port}` };
  const path = join(dir, `${name}.yml`);
  await writeFile(path, stringify({ ...config, http }));
  const child = spawn(process.execPath, ['--enable-source-maps', BERTH_MAIN, 'serve', path], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { PATH: process.env['PATH'] ?? '' },
  });
  const lines: LogLine[] = [];
  const raw: string[] = [];
  createInterface({ input: child.stderr }).on('line', (line) => {
    raw.push(line);
    try {
      lines.push(JSON.parse(line) as LogLine);
    } catch {
      // Not a log line (a crash trace): kept in raw for the failure message.
    }
  });
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const exited = once(child, 'exit');
  let stopped: Promise<void> | undefined;
  const url = `http://127.0.0.1:${port}`;
  const replica: Replica = {
    name,
    url,
    port,
    pid: child.pid ?? 0,
    logs: () => [...lines],
    requests: () => lines.filter((line) => line.msg === 'request'),
    async bytesRead() {
      const io = await readFile(`/proc/${child.pid}/io`, 'utf8').catch(() => '');
      return Number(/^rchar: (\d+)$/m.exec(io)?.[1] ?? 0);
    },
    kill: () => child.kill('SIGKILL'),
    stop() {
      stopped ??= (async () => {
        if (alive(child)) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(timer);
        }
        process.removeListener('exit', killOnExit);
      })();
      return stopped;
    },
  };
  try {
    await waitForRegistry(url, 60_000, () => alive(child));
  } catch (error) {
    await replica.stop();
    throw new Error(`replica ${name} did not start: ${String(error)}\n${raw.join('\n')}`);
  }
  return replica;
}

export interface Haproxy {
  readonly url: string;
  /** `127.0.0.1:<port>`, the registry host in image references. */
  readonly host: string;
  stop(): Promise<void>;
}

/**
 * haproxy in HTTP mode, round-robin over `backends` with no stickiness, a health check on `/`
 * (which Berth answers 200 without auth), and retries of requests that could not reach a server.
 */
export async function startHaproxy(dir: string, backends: readonly { name: string; port: number }[]): Promise<Haproxy> {
  const port = await freePort();
  const path = join(dir, 'haproxy.cfg');
  await writeFile(
    path,
    [
      'global',
      '  maxconn 512',
      'defaults',
      '  mode http',
      '  timeout connect 2s',
      '  timeout client 5m',
      '  timeout server 5m',
      '  option forwardfor',
      '  retries 3',
      '  option redispatch 1',
      '  retry-on conn-failure empty-response',
      'frontend registry',
      `  bind 127.0.0.1:${port}`,
      '  http-request set-header X-Forwarded-Proto http',
      '  default_backend berth',
      'backend berth',
      '  balance roundrobin',
      '  option httpchk GET /',
      '  http-check expect status 200',
      '  default-server inter 300ms fall 2 rise 1',
      ...backends.map((b) => `  server ${b.name} 127.0.0.1:${b.port} check`),
      '',
    ].join('\n'),
  );
  const child = spawn('haproxy', ['-db', '-f', path], { stdio: ['ignore', 'ignore', 'pipe'] });
  const output: string[] = [];
  child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const exited = once(child, 'exit');
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (alive(child)) {
      child.kill('SIGTERM');
      await exited;
    }
    process.removeListener('exit', killOnExit);
  };
  try {
    await waitForRegistry(url, 20_000, () => alive(child));
  } catch (error) {
    await stop();
    throw new Error(`haproxy did not start: ${String(error)}\n${output.join('')}`);
  }
  return { url, host: `127.0.0.1:${port}`, stop };
}
