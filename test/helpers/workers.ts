/** `berth serve` as a node:cluster primary with two workers, for the tests of `http.workers`. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type RunningCli, startCli } from '../cli/run-cli.js';

/**
 * Writes `dir/config.yml` — two workers on an ephemeral loopback port, JSON log lines (so tests can
 * tell the processes apart by `pid`), a filesystem store under `dir/data` that the workers share —
 * and starts `berth serve` on it. `extra` lines go at the end of the file, so indented ones
 * continue its `http:` section.
 */
export async function startWorkerCluster(dir: string, extra: readonly string[] = []): Promise<RunningCli> {
  const config = join(dir, 'config.yml');
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
      '  workers: 2',
      ...extra,
      '',
    ].join('\n'),
  );
  return startCli(['serve', config]);
}
