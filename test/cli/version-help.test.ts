import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { runCli } from './run-cli.js';

const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

describe('berth --version / --help', () => {
  it('prints the version from package.json', async () => {
    for (const flag of ['--version', '-v']) {
      const { code, stdout } = await runCli([flag]);
      assert.equal(code, 0);
      assert.equal(stdout.trim(), pkg.version);
    }
  });

  it('lists the commands in --help', async () => {
    const { code, stdout } = await runCli(['--help']);
    assert.equal(code, 0);
    assert.match(stdout, /^Usage: berth /m);
    assert.match(stdout, /^\s+serve \[config\]\s+run the registry$/m);
    assert.match(stdout, /^\s+config\b/m);
  });

  it('describes config check', async () => {
    const { code, stdout } = await runCli(['config', 'check', '--help']);
    assert.equal(code, 0);
    assert.match(stdout, /^Usage: berth config check \[options\] <file>/m);
  });

  it('fails on an unknown command', async () => {
    const { code, stderr } = await runCli(['frobnicate']);
    assert.equal(code, 1);
    assert.match(stderr, /unknown command 'frobnicate'/);
  });
});
