#!/usr/bin/env node
/**
 * Entry point of the `berth` binary (package.json `bin`). A plain `berth serve [config]` (also
 * what cluster workers run) goes straight to the server, without building the command tree: the
 * other commands' modules (bcrypt, garbage collection, config rendering) would only slow its start.
 */
const args = process.argv.slice(2);
if (args[0] === 'serve' && args.length <= 2 && !args.slice(1).some((arg) => arg.startsWith('-'))) {
  const { serve } = await import('./serve.js');
  await serve(args[1]);
} else {
  const { createProgram } = await import('./program.js');
  await createProgram().parseAsync(process.argv);
}
