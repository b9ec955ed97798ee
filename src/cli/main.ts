#!/usr/bin/env node
/** Entry point of the `berth` binary (package.json `bin`). */
import { createProgram } from './program.js';

await createProgram().parseAsync(process.argv);
