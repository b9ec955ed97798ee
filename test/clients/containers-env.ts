/**
 * A private world for podman and buildah: storage (vfs, so no kernel overlay or FUSE is
 * needed), run state, configuration, HOME and XDG directories all inside one temp dir, so a
 * test touches no global container state and needs no daemon. No container is ever run.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type RunOptions, type RunResult, run } from '../helpers/tools.js';

export interface ContainersEnv {
  /** Runs `podman --root … --runroot … --storage-driver vfs args…` in this world. */
  podman(args: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** Runs `buildah --root … --runroot … --storage-driver vfs args…` in this world. */
  buildah(args: readonly string[], options?: RunOptions): Promise<RunResult>;
}

/** Prepares the directories and configuration files under `dir` (which must exist). */
export async function createContainersEnv(dir: string): Promise<ContainersEnv> {
  const root = join(dir, 'root');
  const runroot = join(dir, 'runroot');
  const home = join(dir, 'home');
  const xdg = join(dir, 'xdg');
  const tmp = join(dir, 'tmp');
  for (const path of [root, runroot, home, join(xdg, 'config'), join(xdg, 'data'), tmp]) {
    await mkdir(path, { recursive: true, mode: 0o700 });
  }
  const toml = (value: string): string => JSON.stringify(value);
  await writeFile(
    join(dir, 'containers.conf'),
    [
      '[engine]',
      // Without systemd or a journal (CI containers), these are the backends that always work.
      'events_logger = "file"',
      `events_logfile_path = ${toml(join(tmp, 'events.log'))}`,
      'cgroup_manager = "cgroupfs"',
      `tmp_dir = ${toml(tmp)}`,
      `static_dir = ${toml(join(root, 'libpod'))}`,
      `volume_path = ${toml(join(root, 'volumes'))}`,
      '',
    ].join('\n'),
  );
  await writeFile(
    join(dir, 'storage.conf'),
    ['[storage]', 'driver = "vfs"', `graphroot = ${toml(root)}`, `runroot = ${toml(runroot)}`, ''].join('\n'),
  );
  // Only fully qualified references are used; no search registries means no surprise lookups.
  await writeFile(join(dir, 'registries.conf'), 'unqualified-search-registries = []\n');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: home,
    TMPDIR: tmp,
    XDG_CONFIG_HOME: join(xdg, 'config'),
    XDG_DATA_HOME: join(xdg, 'data'),
    XDG_RUNTIME_DIR: tmp,
    CONTAINERS_CONF: join(dir, 'containers.conf'),
    CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf'),
    CONTAINERS_REGISTRIES_CONF: join(dir, 'registries.conf'),
  };
  const global = ['--root', root, '--runroot', runroot, '--storage-driver', 'vfs'];
  return {
    podman: (args, options = {}) => run('podman', [...global, ...args], { timeoutMs: 180_000, env, ...options }),
    buildah: (args, options = {}) => run('buildah', [...global, ...args], { timeoutMs: 180_000, env, ...options }),
  };
}
