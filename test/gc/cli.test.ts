/** `berth garbage-collect` as a command: help, errors, exit codes and the terminal progress display. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { formatBytes, garbageCollect } from '../../src/cli/garbage-collect.js';
import { runCli } from '../cli/run-cli.js';

function sink(isTTY = false): PassThrough & { isTTY?: boolean; text(): string } {
  const stream = new PassThrough() as PassThrough & { isTTY?: boolean; text(): string };
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.text = () => Buffer.concat(chunks).toString('utf8');
  if (isTTY) stream.isTTY = true;
  return stream;
}

describe('berth garbage-collect command', () => {
  test('is listed in help with registry:2 flags', async () => {
    const help = await runCli(['garbage-collect', '--help']);
    assert.equal(help.code, 0);
    for (const flag of ['-d, --dry-run', '-m, --delete-untagged', '[config]'])
      assert.ok(help.stdout.includes(flag), flag);
  });

  test('fails clearly without a configuration or with an invalid one', async () => {
    const none = await runCli(['garbage-collect']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /configuration path unspecified/);
    const missing = await runCli(['garbage-collect', '/nonexistent/config.yml']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read configuration file/);
  });

  test('shows progress on a terminal and clears it; an empty store collects nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-gc-cli-'));
    try {
      const config = join(dir, 'config.yml');
      await writeFile(config, `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n`);
      const stdout = sink();
      const stderr = sink(true);
      const code = await garbageCollect(config, {}, { stdout, stderr, env: {} });
      assert.equal(code, 0, stderr.text());
      assert.match(stderr.text(), /\r\x1b\[Kmark: 0\/0 repositories scanned/);
      assert.ok(stderr.text().endsWith('\r\x1b[K'));
      assert.match(stdout.text(), /^\n0 blobs marked, 0 blobs and 0 manifests eligible for deletion\n/);
      assert.match(stdout.text(), /deleted 0 blobs, 0 manifests and 0 layer links; 0 B reclaimed/);
      const quiet = sink();
      assert.equal(
        await garbageCollect(config, { quiet: true, dryRun: true }, { stdout: quiet, stderr: sink(), env: {} }),
        0,
      );
      assert.match(quiet.text(), /^\ndry run: nothing was deleted/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('formats sizes', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(5 * 1024 ** 3), '5.0 GiB');
  });
});
