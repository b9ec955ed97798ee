/**
 * A real Azure Blob Storage emulator for tests: Azurite (the npm devDependency) started as a
 * child process on a free loopback port, data in memory, stopped by `stop()`. Start one per test
 * file. It runs with `--skipApiVersionCheck` because current SDKs speak a newer service version
 * than Azurite announces.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** Azurite's well-known development account, published in its documentation. */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface Azurite {
  /** The blob service endpoint, path-style: `http://127.0.0.1:<port>/devstoreaccount1`. */
  serviceURL: string;
  accountName: string;
  accountKey: string;
  /** `storage.azure` parameters for `container` (and an optional root directory). */
  parameters(container: string, rootdirectory?: string): Record<string, unknown>;
  /** A fresh container name no other caller of this function gets. */
  uniqueContainer(prefix?: string): string;
  /** Kills the emulator and removes its working directory. */
  stop(): Promise<void>;
}

function azuriteBlobScript(): string {
  const require = createRequire(import.meta.url);
  const packageJson = require.resolve('azurite/package.json');
  const bin = (require(packageJson) as { bin: Record<string, string> }).bin['azurite-blob'];
  if (bin === undefined) throw new Error('the azurite package has no azurite-blob binary');
  return join(dirname(packageJson), bin);
}

/** Starts Azurite's blob service and resolves once it listens. */
export async function startAzurite(timeoutMs = 30_000): Promise<Azurite> {
  const location = await mkdtemp(join(tmpdir(), 'berth-azurite-'));
  const child: ChildProcess = spawn(
    process.execPath,
    [
      azuriteBlobScript(),
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      '0',
      '--inMemoryPersistence',
      '--skipApiVersionCheck',
      '--loose',
      '--disableTelemetry',
      '--silent',
    ],
    // In memory, Azurite takes no --location; its working directory still catches any stray file.
    { cwd: location, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`azurite did not start in ${timeoutMs} ms:\n${output}`)),
        timeoutMs,
      );
      const onData = (chunk: Buffer): void => {
        output += chunk.toString('utf8');
        const match = /listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
        if (match !== null) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`azurite exited (${code ?? signal}) before listening:\n${output}`));
      });
    });
    const serviceURL = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
    let counter = 0;
    return {
      serviceURL,
      accountName: AZURITE_ACCOUNT,
      accountKey: AZURITE_KEY,
      parameters(container, rootdirectory) {
        return {
          accountname: AZURITE_ACCOUNT,
          accountkey: AZURITE_KEY,
          container,
          serviceurl: serviceURL,
          ...(rootdirectory === undefined ? {} : { rootdirectory }),
        };
      },
      uniqueContainer(prefix = 'berth') {
        counter++;
        return `${prefix}-${counter}-${randomBytes(4).toString('hex')}`;
      },
      async stop() {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
        await rm(location, { recursive: true, force: true });
      },
    };
  } catch (error) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    await rm(location, { recursive: true, force: true });
    throw error;
  }
}
