/**
 * `berth config check FILE`: validates a configuration the way `serve` would (REGISTRY_* overlay
 * included) and prints the effective configuration with secrets redacted.
 */
import type { Command } from 'commander';
import { ConfigError } from '../config/errors.js';
import { loadConfig } from '../config/load.js';
import { renderConfig } from '../config/redact.js';

export interface CheckIo {
  /** Receives the effective configuration as YAML. */
  stdout: NodeJS.WritableStream;
  /** Receives warnings and errors, one per line. */
  stderr: NodeJS.WritableStream;
  /** The environment whose REGISTRY_* variables overlay the file. */
  env: NodeJS.ProcessEnv;
}

/**
 * Checks `file`. Effective YAML goes to stdout; warnings and errors go to stderr.
 * @returns the process exit code: 0 when valid, 1 when not.
 */
export function checkConfig(file: string, io: CheckIo): number {
  try {
    const { config, warnings, notSupportedYet } = loadConfig({ file, env: io.env });
    for (const w of warnings) io.stderr.write(`warning: ${w}\n`);
    for (const key of notSupportedYet) io.stderr.write(`warning: ${key} is not supported yet and is ignored\n`);
    io.stdout.write(renderConfig(config));
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.stderr.write(`error: ${err.message}\n`);
    return 1;
  }
}

export function registerConfigCommands(program: Command): void {
  const config = program.command('config').description('work with configuration files');
  config
    .command('check')
    .description('validate a configuration file and print the effective configuration, secrets redacted')
    .argument('<file>', 'configuration file (config.yml)')
    .action((file: string) => {
      process.exitCode = checkConfig(file, { stdout: process.stdout, stderr: process.stderr, env: process.env });
    });
}
