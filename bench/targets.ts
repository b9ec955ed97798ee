/**
 * The servers compared: Berth from `dist/` (single process, and a cluster when `http.workers`
 * is supported), Debian's `docker-registry` (CNCF distribution 2.8) with the same storage
 * settings, and the trivial servers that measure the machine's limits.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/helpers/tools.js';
import { type ServerProcess, type Spawned, spawnServer } from './processes.js';

/** `dist/` of this build (this file runs as dist/bench/targets.js). */
export const DIST_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The bundle `npm start` runs; profiles use the unbundled modules, whose names read better. */
const BERTH_BUNDLE = join(DIST_DIR, 'berth', 'main.mjs');
const BERTH_MODULES = join(DIST_DIR, 'src', 'cli', 'main.js');

export interface TargetSpec {
  /** Short name used in tables and JSON: `berth`, `berth-2w`, `distribution`. */
  name: string;
  /** Starts the server on a free port, serving `rootDir`. */
  start(rootDir: string, configDir: string): Promise<Spawned>;
}

export interface BerthOptions {
  /** `http.workers`; omitted when undefined. */
  workers?: number;
  /** Directory for `--cpu-prof` profiles, when profiling. */
  cpuProfDir?: string | undefined;
}

/** The storage and log settings both registries get. */
function configYaml(rootDir: string, port: number, extraHttp: string[] = []): string {
  return [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(rootDir)}`,
    '  delete:',
    '    enabled: true',
    '  cache:',
    '    blobdescriptor: inmemory',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    ...extraHttp,
    '',
  ].join('\n');
}

/** Environment without REGISTRY_* variables, which both registries would overlay on the file. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('REGISTRY_')));
}

export function berthTarget(name: string, opts: BerthOptions = {}): TargetSpec {
  return {
    name,
    async start(rootDir, configDir) {
      const port = await freePort();
      const config = join(configDir, `${name}.yml`);
      const extra = opts.workers === undefined ? [] : [`  workers: ${opts.workers}`];
      await writeFile(config, configYaml(rootDir, port, extra));
      // As `npm start` runs it: the bundle, without --enable-source-maps (which slows start-up).
      const args: string[] = [];
      if (opts.cpuProfDir !== undefined) {
        await mkdir(opts.cpuProfDir, { recursive: true });
        args.push('--enable-source-maps', '--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`, BERTH_MODULES);
      } else {
        args.push(existsSync(BERTH_BUNDLE) ? BERTH_BUNDLE : BERTH_MODULES);
      }
      args.push('serve', config);
      return spawnServer({ label: name, command: process.execPath, args, port, env: cleanEnv() });
    },
  };
}

export function distributionTarget(): TargetSpec {
  return {
    name: 'distribution',
    async start(rootDir, configDir) {
      const port = await freePort();
      const config = join(configDir, 'distribution.yml');
      await writeFile(config, configYaml(rootDir, port));
      return spawnServer({
        label: 'distribution',
        command: 'docker-registry',
        args: ['serve', config],
        port,
        env: cleanEnv(),
      });
    },
  };
}

/** Whether Debian's docker-registry is on the PATH. */
export function hasDistribution(): boolean {
  return spawnSync('docker-registry', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Whether this build of Berth acts on `http.workers`. */
export async function berthSupportsWorkers(): Promise<boolean> {
  const support = join(DIST_DIR, 'src', 'config', 'support.js');
  if (!existsSync(support)) return false;
  const mod = (await import(support)) as { SUPPORTED_KEYS?: readonly string[] };
  return mod.SUPPORTED_KEYS?.includes('http.workers') === true;
}

/** The trivial HTTP server and TCP sender (bench/trivial-server.ts) in a child process. */
export async function startTrivial(blobBytes: number): Promise<{ server: ServerProcess; tcpPort: number }> {
  const port = await freePort();
  const tcpPort = await freePort();
  const { server } = await spawnServer({
    label: 'trivial',
    command: process.execPath,
    args: [join(DIST_DIR, 'bench', 'trivial-server.js'), String(port), String(blobBytes), String(tcpPort)],
    port,
    readyPath: '/small',
  });
  return { server, tcpPort };
}
