/**
 * Server processes under test and what /proc says about them: CPU seconds (utime + stime of the
 * whole process tree, so cluster workers count), resident memory, and the peak resident memory
 * since a reset (`clear_refs` 5 resets VmHWM; without it the peak is sampled).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { HttpConnection } from './http-client.js';

const CLOCK_TICKS = 100;

/** A running server and its /proc counters. */
export interface ServerProcess {
  readonly label: string;
  readonly host: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Everything it wrote to stdout/stderr so far. */
  output(): string;
  /** CPU seconds used so far by the process and its live descendants. */
  cpuSeconds(): number;
  /** Resident bytes now, summed over the tree. */
  rssBytes(): number;
  /** Starts a new peak-RSS window. */
  resetPeak(): void;
  /** Peak resident bytes since resetPeak, summed over the tree. */
  peakRssBytes(): number;
  /** SIGTERM, then SIGKILL after 10 s. */
  stop(): Promise<void>;
}

function statFields(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The pid and all its live descendants. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const fields = statFields(pid);
    if (fields === undefined) continue;
    const ppid = Number(fields[1]);
    const list = children.get(ppid) ?? [];
    list.push(pid);
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.pop() as number;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

function statusKb(pid: number, key: string): number {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'latin1');
    const match = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    return match === null ? 0 : Number(match[1]);
  } catch {
    return 0;
  }
}

export function cpuSecondsOf(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const fields = statFields(pid);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    if (fields !== undefined) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / CLOCK_TICKS;
}

export function rssOf(pids: readonly number[]): number {
  let kb = 0;
  for (const pid of pids) kb += statusKb(pid, 'VmRSS');
  return kb * 1024;
}

/**
 * Polls `GET path` with fresh connections until it answers 2xx.
 * @returns milliseconds from `since` (a performance.now() value) to the first answer.
 */
export async function waitForAnswer(
  host: string,
  port: number,
  path: string,
  since: number,
  isAlive: () => boolean,
  timeoutMs = 30_000,
): Promise<number> {
  const deadline = since + timeoutMs;
  let last = 'no answer';
  while (performance.now() < deadline) {
    if (!isAlive()) throw new Error(`server on port ${port} exited before answering: ${last}`);
    const conn = new HttpConnection(host, port, 64 * 1024);
    try {
      const response = await conn.request({ method: 'GET', path });
      if (response.status >= 200 && response.status < 300) return performance.now() - since;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = String(error);
    } finally {
      conn.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  throw new Error(`server on port ${port} did not answer ${path} within ${timeoutMs} ms: ${last}`);
}

export interface SpawnOptions {
  label: string;
  command: string;
  args: readonly string[];
  port: number;
  env?: NodeJS.ProcessEnv;
  /** Path polled until it answers (default `/v2/`). */
  readyPath?: string;
}

export interface Spawned {
  server: ServerProcess;
  /** performance.now() when the process was spawned. */
  spawnedAt: number;
  /** Spawn → first answer of the ready path (ms). */
  startupMs: number;
}

/** Spawns a server and waits until it answers. */
export async function spawnServer(opts: SpawnOptions): Promise<Spawned> {
  const host = '127.0.0.1';
  const logged: Buffer[] = [];
  const started = performance.now();
  const child = spawn(opts.command, opts.args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
  child.stdout?.on('data', (chunk: Buffer) => logged.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => logged.push(chunk));
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const pid = child.pid as number;
  let samplePeak = 0;
  let sampler: NodeJS.Timeout | undefined;
  let hwmResets = true;
  const output = (): string => Buffer.concat(logged).toString('utf8');
  const server: ServerProcess = {
    label: opts.label,
    host,
    port: opts.port,
    child,
    output,
    cpuSeconds: () => cpuSecondsOf(processTree(pid)),
    rssBytes: () => rssOf(processTree(pid)),
    resetPeak() {
      const pids = processTree(pid);
      for (const p of pids) {
        try {
          writeFileSync(`/proc/${p}/clear_refs`, '5');
        } catch {
          hwmResets = false;
        }
      }
      samplePeak = rssOf(pids);
      if (sampler !== undefined) clearInterval(sampler);
      sampler = undefined;
      // Sampling backs up VmHWM only where clear_refs is not permitted, and reads only this tree's
      // files: walking all of /proc every 20 ms for every target took the client's CPU from the
      // scenario being measured (one-stream pulls ran at 1.1–2.1 GB/s in the benchmark, 3.3 alone).
      if (!hwmResets) {
        sampler = setInterval(() => {
          samplePeak = Math.max(samplePeak, rssOf(pids));
        }, 20);
        sampler.unref();
      }
    },
    peakRssBytes() {
      const pids = processTree(pid);
      let kb = 0;
      for (const p of pids) kb += statusKb(p, 'VmHWM');
      const sampled = Math.max(samplePeak, rssOf(pids));
      return hwmResets ? Math.max(kb * 1024, sampled) : sampled;
    },
    async stop() {
      if (sampler !== undefined) clearInterval(sampler);
      if (alive()) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      process.removeListener('exit', killOnExit);
    },
  };
  try {
    const startupMs = await waitForAnswer(host, opts.port, opts.readyPath ?? '/v2/', started, alive);
    return { server, spawnedAt: started, startupMs };
  } catch (error) {
    await server.stop();
    throw new Error(`${opts.label} did not start: ${String(error)}\n${output().slice(-4000)}`);
  }
}
