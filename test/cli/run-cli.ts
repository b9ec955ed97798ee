/** Runs the built `berth` binary (the bundle, dist/berth/main.mjs) as a real child process. */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { BERTH_MAIN } from '../helpers/berth-binary.js';

export interface CliOptions {
  /** Extra environment; the child gets PATH plus these, never the test runner's REGISTRY_* variables. */
  env?: Record<string, string>;
  cwd?: string;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function spawnCli(args: readonly string[], opts: CliOptions): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['--enable-source-maps', BERTH_MAIN, ...args], {
    env: { PATH: process.env['PATH'] ?? '', ...opts.env },
    ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
  });
}

async function collect(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  stream.setEncoding('utf8');
  for await (const chunk of stream) text += chunk as string;
  return text;
}

/** Runs `berth ARGS…` to completion. */
export async function runCli(args: readonly string[], opts: CliOptions = {}): Promise<CliResult> {
  const child = spawnCli(args, opts);
  const closed = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  const [stdout, stderr, [code, signal]] = await Promise.all([collect(child.stdout), collect(child.stderr), closed]);
  return { code, signal, stdout, stderr };
}

export interface RunningCli {
  child: ChildProcessWithoutNullStreams;
  /** Every stderr line read so far. */
  lines: string[];
  /** Reads stderr lines until one satisfies `match`; rejects if stderr ends first. */
  waitForLine(match: (line: string) => boolean): Promise<string>;
  /** Waits for exit, reading the rest of stdout and stderr. */
  finished(): Promise<CliResult>;
}

/** Starts a long-running `berth ARGS…` (e.g. serve) whose stderr is read line by line. */
export function startCli(args: readonly string[], opts: CliOptions = {}): RunningCli {
  const child = spawnCli(args, opts);
  const closed = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  const stdout = collect(child.stdout);
  const lines: string[] = [];
  const iterator = createInterface({ input: child.stderr })[Symbol.asyncIterator]();
  return {
    child,
    lines,
    async waitForLine(match) {
      for (;;) {
        const next = await iterator.next();
        if (next.done) throw new Error(`stderr ended before the expected line; it said:\n${lines.join('\n')}`);
        lines.push(next.value);
        if (match(next.value)) return next.value;
      }
    },
    async finished() {
      for (;;) {
        const next = await iterator.next();
        if (next.done) break;
        lines.push(next.value);
      }
      const [out, [code, signal]] = await Promise.all([stdout, closed]);
      return { code, signal, stdout: out, stderr: lines.join('\n') };
    },
  };
}
