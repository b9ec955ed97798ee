/**
 * The `berth` binary the tests start as a process: the bundle that `npm start` runs and
 * package.json's `bin` names (dist/berth/main.mjs, made by scripts/bundle.mjs after tsc), so what
 * operators run is what the process-level tests exercise.
 */
import { fileURLToPath } from 'node:url';

export const BERTH_MAIN = fileURLToPath(new URL('../../berth/main.mjs', import.meta.url));
