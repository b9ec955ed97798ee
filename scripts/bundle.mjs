/**
 * Bundles the compiled CLI (dist/src/cli/main.js) and its dependencies into dist/berth/, the
 * files `npm start` and the `berth` binary run. One file per lazily loaded part (S3, Azure,
 * metrics, Redis…) instead of hundreds of modules: Node 20 has no compile cache, and resolving
 * and reading each module file was a third of start-up.
 */
import { rm } from 'node:fs/promises';
import { build } from 'esbuild';

const outdir = 'dist/berth';

await rm(outdir, { recursive: true, force: true });
await build({
  entryPoints: { main: 'dist/src/cli/main.js' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outExtension: { '.js': '.mjs' },
  // The ES module build where a package has one: a CommonJS/UMD `main` would reach a dynamic
  // import() as a namespace with only `default` (hash-wasm's createSHA256 went missing that way).
  mainFields: ['module', 'main'],
  // Bundled CommonJS dependencies call require() for Node's built-in modules.
  banner: {
    js: "import { createRequire as berthCreateRequire } from 'node:module';\nconst require = berthCreateRequire(import.meta.url);",
  },
  sourcemap: true,
  logLevel: 'warning',
});
