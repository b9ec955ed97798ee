/**
 * htpasswd files: bcrypt entries in every common prefix accepted, other hash kinds refused at
 * start-up naming the line, reloads on change, provisioning of a missing file, timing of
 * unknown users, and the `berth htpasswd` command (argument, stdin, prompt without echo, --file).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { pino } from 'pino';
import { createHtpasswdStore, parseHtpasswd } from '../../src/auth/htpasswd.js';
import { runHtpasswd } from '../../src/cli/htpasswd.js';
import { BERTH_MAIN } from '../helpers/berth-binary.js';
import { startTestServer } from '../helpers/server.js';
import { run } from '../helpers/tools.js';
import { capturingLogger, eventually, tempDir, writeHtpasswd } from './support.js';

const silent = pino({ level: 'silent' });

/** `$2y$` hashes as PHP's password_hash and Apache's htpasswd write them (PHP manual's examples). */
const PHP_2Y = '$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a';
const PHP_2Y_07 = '$2y$07$BCryptRequires22Chrcte/VlQH0piJtjXl.0t1XkA8pw9dMXTpOq';

describe('htpasswd files', () => {
  let work: { dir: string; cleanup(): Promise<void> };
  before(async () => {
    work = await tempDir('berth-htpasswd-');
  });
  after(() => work.cleanup());

  test('accepts $2y$, $2a$ and $2b$ entries, comments and blank lines; the first entry of a user wins', async () => {
    const path = join(work.dir, 'prefixes');
    const b = bcrypt.hashSync('bee', 4);
    const a = b.replace(/^\$2b\$/, '$2a$');
    await writeFile(path, `# users\n\nphp:${PHP_2Y}\r\nseven:${PHP_2Y_07}\nbee:${b}\nay:${a}\nbee:${PHP_2Y}\n`);
    const store = await createHtpasswdStore({ path, logger: silent });
    assert.equal(await store.verify('php', 'rasmuslerdorf'), true);
    assert.equal(await store.verify('seven', 'rasmuslerdorf'), true);
    assert.equal(await store.verify('bee', 'bee'), true);
    assert.equal(await store.verify('bee', 'rasmuslerdorf'), false, 'the second bee line is ignored');
    assert.equal(await store.verify('ay', 'bee'), true);
    assert.equal(await store.verify('php', 'wrong'), false);
    assert.equal(await store.verify('nobody', 'rasmuslerdorf'), false);
  });

  test('refuses other hash kinds at start-up with the line and the kind', async () => {
    const cases: Array<[string, RegExp]> = [
      ['apr:$apr1$abcdefgh$0123456789abcdefghijkl', /line 2 \(user "apr"\).*only bcrypt.*Apache MD5/],
      ['sha:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=', /line 2 \(user "sha"\).*SHA-1/],
      ['plain:secret', /line 2 \(user "plain"\).*crypt\(3\) or plain text/],
      ['crypt:$6$salt$abcdef', /line 2 \(user "crypt"\).*SHA-crypt/],
      ['nocolon', /line 2: expected user:hash/],
    ];
    for (const [line, message] of cases) {
      const path = join(work.dir, 'bad');
      await writeFile(path, `ok:${PHP_2Y}\n${line}\n`);
      assert.throws(() => parseHtpasswd(`ok:${PHP_2Y}\n${line}\n`, path), message);
      await assert.rejects(
        startTestServer({ auth: { htpasswd: { realm: 'r', path } } }),
        (error: Error) => message.test(error.message) && error.message.includes(path),
      );
    }
  });

  test('reloads the file when it changes, keeping the old users when the new file is invalid', async () => {
    const path = join(work.dir, 'reload');
    await writeHtpasswd(path, { alice: 'one' });
    const { logger, lines } = capturingLogger();
    const store = await createHtpasswdStore({ path, logger, checkIntervalMs: 0 });
    assert.equal(await store.verify('alice', 'one'), true);
    await writeHtpasswd(path, { alice: 'two', bob: 'three' });
    await eventually(async () => await store.verify('bob', 'three'));
    assert.equal(await store.verify('alice', 'one'), false, 'the old password is gone');
    assert.equal(await store.verify('alice', 'two'), true);
    assert.ok(lines.some((l) => l['msg'] === 'htpasswd file reloaded'));
    await writeFile(path, 'broken:{SHA}xyz\n');
    // The file is checked on use: each poll verifies, then looks for the error line.
    await eventually(async () => {
      await store.verify('bob', 'three');
      return lines.some((l) => String(l['msg']).includes('could not be reloaded'));
    });
    assert.equal(await store.verify('bob', 'three'), true, 'previous users stay after a bad edit');
  });

  test('a missing file is created with user "docker" and a random password, as registry:2 does', async () => {
    const path = join(work.dir, 'sub', 'missing');
    const { logger, lines } = capturingLogger();
    const store = await createHtpasswdStore({ path, logger });
    const line = lines.find((l) => l['user'] === 'docker');
    assert.ok(line, 'the provisioning is logged');
    assert.equal(typeof line['password'], 'string');
    assert.equal(await store.verify('docker', line['password'] as string), true);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.match(await readFile(path, 'utf8'), /^docker:\$2y\$10\$/);
  });

  test('an unknown user costs a bcrypt comparison like a known one', async () => {
    const path = join(work.dir, 'timing');
    await writeFile(path, `alice:${bcrypt.hashSync('right', 9)}\n`);
    const store = await createHtpasswdStore({ path, logger: silent });
    const once = async (user: string, i: number): Promise<number> => {
      const start = performance.now();
      assert.equal(await store.verify(user, `wrong-${i}`), false);
      return performance.now() - start;
    };
    await once('nobody', 0); // builds the dummy hash
    // Interleaved, and the fastest of each: load on a shared machine only ever adds time.
    let known = Number.POSITIVE_INFINITY;
    let unknown = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 5; i++) {
      known = Math.min(known, await once('alice', i));
      unknown = Math.min(unknown, await once('nobody', i));
    }
    assert.ok(unknown > known * 0.5, `unknown user ${unknown.toFixed(1)} ms vs known ${known.toFixed(1)} ms`);
  });
});

describe('berth htpasswd', () => {
  let work: { dir: string; cleanup(): Promise<void> };
  before(async () => {
    work = await tempDir('berth-htpasswd-cli-');
  });
  after(() => work.cleanup());

  test('prints a $2y$ bcrypt line for the password argument, loadable by the registry', async () => {
    const { stdout } = await run('node', [BERTH_MAIN, 'htpasswd', '-C', '5', 'alice', 's3cret']);
    assert.match(stdout, /^alice:\$2y\$05\$[./A-Za-z0-9]{53}\n$/);
    const path = join(work.dir, 'printed');
    await writeFile(path, stdout);
    const store = await createHtpasswdStore({ path, logger: silent });
    assert.equal(await store.verify('alice', 's3cret'), true);
  });

  test('reads the password from the first line of a non-terminal stdin', async () => {
    const { stdout } = await run('node', [BERTH_MAIN, 'htpasswd', '--cost', '4', 'bob'], {
      input: 'from-stdin\nignored\n',
    });
    const hash = stdout.trim().slice('bob:'.length);
    assert.equal(bcrypt.compareSync('from-stdin', hash), true);
  });

  test('prompts twice on a terminal without echoing the password', async () => {
    // `script` gives the command a pseudo-terminal; what it prints is what a user would see.
    // Each answer is typed only once its prompt is on screen, as a person would.
    const child = spawn('script', ['-qec', `node ${BERTH_MAIN} htpasswd -C 4 carol`, '/dev/null'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let screen = '';
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    child.stdout.on('data', (chunk: Buffer) => {
      screen += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    try {
      await eventually(() => screen.includes('Password: '), 30_000);
      child.stdin.write('hidden-pw\r');
      await eventually(() => screen.includes('Re-type password: '), 30_000);
      child.stdin.write('hidden-pw\r');
      assert.equal(await exited, 0, screen);
    } finally {
      clearTimeout(timer);
      child.kill('SIGKILL');
    }
    assert.ok(!screen.includes('hidden-pw'), `the password was echoed: ${JSON.stringify(screen)}`);
    const line = /carol:(\$2y\$04\$\S{53})/.exec(screen);
    assert.ok(line, screen);
    assert.equal(bcrypt.compareSync('hidden-pw', line[1] as string), true);
  });

  test('--file adds and replaces entries; bad input exits 1 with a message', async () => {
    // In-process: the command's logic, without paying a Node start-up per case.
    const call = async (user: string, password: string | undefined, file?: string) => {
      const out = new PassThrough();
      const err = new PassThrough();
      const stdin = Object.assign(PassThrough.from(['']), { isTTY: false });
      const code = await runHtpasswd(user, password, { cost: 4, file }, { stdout: out, stderr: err, stdin });
      return { code, stdout: String(out.read() ?? ''), stderr: String(err.read() ?? '') };
    };
    const path = join(work.dir, 'file');
    assert.equal((await call('dave', 'one', path)).code, 0);
    assert.equal((await call('erin', 'two', path)).code, 0);
    assert.equal((await call('dave', 'three', path)).code, 0);
    const users = parseHtpasswd(await readFile(path, 'utf8'), path);
    assert.deepEqual([...users.keys()], ['dave', 'erin']);
    assert.equal(bcrypt.compareSync('three', users.get('dave') as string), true);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const colon = await call('a:b', 'pw');
    assert.deepEqual([colon.code, colon.stdout], [1, '']);
    assert.match(colon.stderr, /contain no ":"/);
    assert.match((await call('x', undefined)).stderr, /must not be empty/);
    assert.match((await call('x', 'y'.repeat(73))).stderr, /72 bytes/);
  });
});
