#!/usr/bin/env node
/**
 * Entry point of the `berth` binary (package.json `bin`). A plain `berth serve [config]` (also
 * what cluster workers run) goes straight to the server, without building the command tree: the
 * other commands' modules (bcrypt, garbage collection, config rendering) would only slow its start.
 */
const args = process.argv.slice(2);
if (args[0] === 'serve' && args.length <= 2 && !args.slice(1).some((arg) => arg.startsWith('-'))) {
  // Workers fork first: they start Node while this process loads the logger and the configuration.
  const { forkEarlyWorkers } = await import('./cluster.js');
  const early = forkEarlyWorkers(process.env, args[1]);
  const { serve } = await import('./serve.js');
  await serve(args[1], process.env, early);
} else {
  const { createProgram } = await import('./program.js');
  await createProgram().parseAsync(process.argv);
}
