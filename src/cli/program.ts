/** The `berth` command tree. Each command lives in its own module and registers itself here. */
import { Command } from 'commander';
import { registerConfigCommands } from './config-check.js';
import { registerGarbageCollect } from './garbage-collect.js';
import { registerHtpasswd } from './htpasswd.js';
import { registerServe } from './serve.js';
import { berthVersion } from './version.js';

export function createProgram(): Command {
  const program = new Command()
    .name('berth')
    .description('An OCI Distribution container image registry, a drop-in replacement for registry:2')
    .version(berthVersion(), '-v, --version', 'print the version')
    .showHelpAfterError();
  registerServe(program);
  registerConfigCommands(program);
  registerHtpasswd(program);
  registerGarbageCollect(program);
  return program;
}
