/** `berth serve` as a node:cluster primary with two workers, for the tests of `http.workers`. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type RunningCli, startCli } from '../cli/run-cli.js';

export interface ClusterConfigOptions {
  /** File name under `dir`; default config.yml. */
  file?: string;
  /** `http.workers`; default 2. */
  workers?: number;
  /** Lines at the end of the file, so indented ones continue its `http:` section. */
  extra?: readonly string[];
}

/**
 * Writes a configuration under `dir` — `workers` workers on an ephemeral loopback port, JSON log
 * lines (so tests can tell the processes apart by `pid`), a filesystem store under `dir/data` that
 * the workers share — and returns its path.
 */
export async function writeClusterConfig(dir: string, opts: ClusterConfigOptions = {}): Promise<string> {
  const config = join(dir, opts.file ?? 'config.yml');
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  formatter: json',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${JSON.stringify(join(dir, 'data'))}`,
      'http:',
      '  addr: 127.0.0.1:0',
      `  workers: ${opts.workers ?? 2}`,
      ...(opts.extra ?? []),
      '',
    ].join('\n'),
  );
  return config;
}

/** Starts `berth serve` on {@link writeClusterConfig}'s configuration with two workers and `extra` lines. */
export async function startWorkerCluster(dir: string, extra: readonly string[] = []): Promise<RunningCli> {
  return startCli(['serve', await writeClusterConfig(dir, { extra })]);
}
