/**
 * `berth htpasswd USER [PASSWORD]`: prints a bcrypt htpasswd line (`user:$2y$…`, as
 * `htpasswd -Bbn` does), or with `--file` adds or replaces the user's entry in a file. Without
 * PASSWORD it is prompted for twice without echo on a terminal, or read as the first line of
 * standard input otherwise (`echo "$PW" | berth htpasswd alice`).
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { DEFAULT_BCRYPT_COST, htpasswdLine, parseHtpasswd } from '../auth/htpasswd.js';

export interface HtpasswdIo {
  /** Where the line goes. */
  stdout: NodeJS.WritableStream;
  /** Prompts and errors. */
  stderr: NodeJS.WritableStream;
  /** Where a password is read from when not given. */
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
}

export interface HtpasswdOptions {
  /** bcrypt cost factor. */
  cost?: number | undefined;
  /** Update this file instead of printing. */
  file?: string | undefined;
}

class Cancelled extends Error {}

/**
 * Reads lines from a terminal in raw mode, echoing nothing. Keystrokes typed ahead of a prompt
 * are kept for it rather than lost.
 */
function hiddenReader(io: HtpasswdIo): (prompt: string) => Promise<string> {
  const { stdin } = io;
  let pending = '';
  return (prompt) =>
    new Promise((resolve, reject) => {
      let value = '';
      const finish = (error?: Error): void => {
        stdin.removeListener('data', onData);
        stdin.setRawMode?.(false);
        stdin.pause();
        io.stderr.write('\n');
        if (error) reject(error);
        else resolve(value);
      };
      const consume = (text: string): void => {
        for (const [i, ch] of [...text].entries()) {
          if (ch === '\r' || ch === '\n' || ch === '\u0004') {
            pending = [...text].slice(i + 1).join('');
            finish();
            return;
          }
          if (ch === '\u0003') {
            finish(new Cancelled('cancelled'));
            return;
          }
          if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
          else value += ch;
        }
      };
      const onData = (chunk: Buffer | string): void => consume(chunk.toString());
      // Echo goes off before the prompt shows, so nothing typed in answer to it is ever echoed.
      stdin.setRawMode?.(true);
      io.stderr.write(prompt);
      stdin.on('data', onData);
      stdin.resume();
      const ahead = pending;
      pending = '';
      if (ahead !== '') consume(ahead);
    });
}

/** The first line of a non-terminal stdin. */
async function readFirstLine(stdin: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stdin as AsyncIterable<Buffer | string>) {
    text += chunk.toString();
    if (text.includes('\n')) break;
  }
  return (text.split('\n')[0] ?? '').replace(/\r$/, '');
}

async function readPassword(io: HtpasswdIo): Promise<string> {
  if (io.stdin.isTTY !== true) return readFirstLine(io.stdin);
  const prompt = hiddenReader(io);
  const first = await prompt('Password: ');
  const second = await prompt('Re-type password: ');
  if (first !== second) throw new Error('passwords do not match');
  return first;
}

/** Replaces the user's line in `path` (or appends it), writing through a temporary file. */
async function updateFile(path: string, user: string, line: string): Promise<void> {
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  // Refuses to rewrite a file the registry would refuse to load.
  parseHtpasswd(text, path);
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const at = lines.findIndex((l) => l.slice(0, l.indexOf(':')) === user);
  if (at < 0) lines.push(line);
  else lines[at] = line;
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${lines.join('\n')}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

/**
 * Runs the command.
 * @returns the process exit code: 0 on success, 1 on a usage or I/O error, 130 when cancelled.
 */
export async function runHtpasswd(
  user: string,
  password: string | undefined,
  options: HtpasswdOptions,
  io: HtpasswdIo,
): Promise<number> {
  const cost = options.cost ?? DEFAULT_BCRYPT_COST;
  try {
    if (user === '' || /[:\r\n]/.test(user)) throw new Error('the user name must be non-empty and contain no ":"');
    if (!Number.isInteger(cost) || cost < 4 || cost > 31) throw new Error('the cost must be an integer from 4 to 31');
    const pw = password ?? (await readPassword(io));
    if (pw === '') throw new Error('the password must not be empty');
    // bcrypt ignores everything past 72 bytes: refuse rather than silently accept a weaker secret.
    if (Buffer.byteLength(pw) > 72) throw new Error('bcrypt passwords are limited to 72 bytes');
    const line = await htpasswdLine(user, pw, cost);
    if (options.file === undefined) io.stdout.write(`${line}\n`);
    else {
      await updateFile(options.file, user, line);
      io.stderr.write(`updated ${user} in ${options.file}\n`);
    }
    return 0;
  } catch (error) {
    if (error instanceof Cancelled) return 130;
    io.stderr.write(`error: ${(error as Error).message}\n`);
    return 1;
  }
}

export function registerHtpasswd(program: Command): void {
  program
    .command('htpasswd')
    .description('print a bcrypt htpasswd entry for auth.htpasswd (prompts for the password when omitted)')
    .argument('<user>', 'user name')
    .argument('[password]', 'password (prompted for without echo when omitted)')
    .option('-C, --cost <n>', `bcrypt cost factor, 4 to 31 (default ${DEFAULT_BCRYPT_COST})`, (v) => Number(v))
    .option('-f, --file <path>', 'add or replace the entry in this htpasswd file instead of printing it')
    .action(async (user: string, password: string | undefined, opts: { cost?: number; file?: string }) => {
      process.exitCode = await runHtpasswd(user, password, opts, {
        stdout: process.stdout,
        stderr: process.stderr,
        stdin: process.stdin,
      });
    });
}
