/**
 * A throw-away PKI for the TLS tests, made with the `openssl` command: a root CA, an intermediate
 * CA, server leaves for localhost/127.0.0.1 signed by the intermediate (alone and as a bundle with
 * the intermediate), and a separate client CA with client certificates. EC P-256 keys keep it fast.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../helpers/tools.js';

export interface KeyPair {
  /** PEM certificate file. */
  cert: string;
  /** PEM private key file. */
  key: string;
}

export interface ServerLeaf extends KeyPair {
  /** Leaf followed by the intermediate, as `cat domain.crt intermediate.pem` makes it. */
  bundle: string;
  /** The leaf's serial number in upper-case hex, as node:tls reports it. */
  serial: string;
}

export interface Pki {
  readonly dir: string;
  /** The root CA that server chains end in; clients trust this file only. */
  readonly root: KeyPair;
  /** The intermediate CA that signs server leaves. */
  readonly intermediate: KeyPair;
  /** A server leaf for localhost and 127.0.0.1. */
  readonly server: ServerLeaf;
  /** The CA that signs client certificates (mutual TLS). */
  readonly clientCa: KeyPair;
  /** A client certificate signed by `clientCa`. */
  readonly client: KeyPair;
  /** Issues another server leaf (new key, new serial) into `dir/<name>.*`. */
  issueServer(name: string): Promise<ServerLeaf>;
  /** Issues a client certificate signed by `ca` into `dir/<name>.*`. */
  issueClient(name: string, ca: KeyPair): Promise<KeyPair>;
  /** A self-signed CA unrelated to the others (for "wrong CA" cases). */
  issueCa(name: string): Promise<KeyPair>;
  /**
   * Issues a server leaf for `hosts` (DNS names) signed by the intermediate, valid exactly from
   * `notBefore` to `notAfter` — in the past, or about to end — with its key and bundle.
   */
  issueServerAt(name: string, hosts: string[], notBefore: Date, notAfter: Date): Promise<ServerLeaf>;
}

const DAYS = '2';

async function openssl(args: string[]): Promise<void> {
  await run('openssl', args, { timeoutMs: 30_000 });
}

function serialHex(): string {
  // Positive and without a leading zero byte, so every tool prints it the same way.
  const bytes = randomBytes(8);
  bytes[0] = ((bytes[0] as number) & 0x7f) | 0x10;
  return bytes.toString('hex').toUpperCase();
}

async function newKey(path: string): Promise<void> {
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path]);
}

async function selfSignedCa(dir: string, name: string, subject: string): Promise<KeyPair> {
  const pair = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  await newKey(pair.key);
  await openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    pair.key,
    '-subj',
    `/CN=${subject}`,
    '-days',
    DAYS,
    '-set_serial',
    `0x${serialHex()}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-out',
    pair.cert,
  ]);
  return pair;
}

/** Signs a new key for `subject` with `ca`, with the given X.509 v3 extensions. */
async function signed(
  dir: string,
  name: string,
  subject: string,
  ca: KeyPair,
  extensions: string[],
): Promise<KeyPair & { serial: string }> {
  const pair = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  const serial = serialHex();
  await newKey(pair.key);
  await openssl(['req', '-new', '-key', pair.key, '-subj', `/CN=${subject}`, '-out', csr]);
  await writeFile(ext, `${[...extensions, 'subjectKeyIdentifier=hash', 'authorityKeyIdentifier=keyid'].join('\n')}\n`);
  await openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-set_serial',
    `0x${serial}`,
    '-days',
    DAYS,
    '-extfile',
    ext,
    '-out',
    pair.cert,
  ]);
  return { ...pair, serial };
}

/** Writes `content` to `path` atomically, as a careful operator (or cert-manager) would. */
export async function replaceFile(path: string, content: string | Buffer): Promise<void> {
  const temp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
  await writeFile(temp, content);
  await rename(temp, path);
}

/** `YYYYMMDDHHMMSSZ`, as `openssl ca -startdate/-enddate` take it. */
function asn1Time(date: Date): string {
  return `${date.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

/** `openssl ca`, the one openssl command that sets both validity dates of what it signs. */
async function signWithDates(
  dir: string,
  name: string,
  ca: KeyPair,
  hosts: string[],
  notBefore: Date,
  notAfter: Date,
): Promise<KeyPair & { serial: string }> {
  const work = join(dir, `${name}.ca`);
  await mkdir(join(work, 'new'), { recursive: true });
  const serial = serialHex();
  await writeFile(join(work, 'index.txt'), '');
  await writeFile(join(work, 'serial'), `${serial}\n`);
  const config = join(work, 'ca.cnf');
  await writeFile(
    config,
    [
      '[ca]',
      'default_ca = berth',
      '[berth]',
      `database = ${join(work, 'index.txt')}`,
      `new_certs_dir = ${join(work, 'new')}`,
      `serial = ${join(work, 'serial')}`,
      'default_md = sha256',
      'policy = anything',
      'unique_subject = no',
      '[anything]',
      'commonName = supplied',
      '',
    ].join('\n'),
  );
  const ext = join(work, 'ext.cnf');
  await writeFile(
    ext,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      `subjectAltName=${hosts.map((host) => `DNS:${host}`).join(',')}`,
      'subjectKeyIdentifier=hash',
      'authorityKeyIdentifier=keyid',
      '',
    ].join('\n'),
  );
  const pair = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  const csr = join(work, 'leaf.csr');
  await newKey(pair.key);
  await openssl(['req', '-new', '-key', pair.key, '-subj', `/CN=${hosts[0] ?? name}`, '-out', csr]);
  await openssl([
    'ca',
    '-batch',
    '-notext',
    '-config',
    config,
    '-cert',
    ca.cert,
    '-keyfile',
    ca.key,
    '-in',
    csr,
    '-out',
    pair.cert,
    '-startdate',
    asn1Time(notBefore),
    '-enddate',
    asn1Time(notAfter),
    '-extfile',
    ext,
  ]);
  return { ...pair, serial };
}

export async function createPki(dir: string): Promise<Pki> {
  await mkdir(dir, { recursive: true });
  const root = await selfSignedCa(dir, 'root', 'Berth Test Root CA');
  const intermediate = await signed(dir, 'intermediate', 'Berth Test Intermediate CA', root, [
    'basicConstraints=critical,CA:TRUE,pathlen:0',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const issueServer = async (name: string): Promise<ServerLeaf> => {
    const leaf = await signed(dir, name, 'localhost', intermediate, [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ]);
    const bundle = join(dir, `${name}.bundle.crt`);
    await writeFile(bundle, Buffer.concat([await readFile(leaf.cert), await readFile(intermediate.cert)]));
    return { ...leaf, bundle };
  };
  const issueClient = async (name: string, ca: KeyPair): Promise<KeyPair> => {
    const { cert, key } = await signed(dir, name, `berth-test-${name}`, ca, [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=clientAuth',
    ]);
    return { cert, key };
  };
  const server = await issueServer('server');
  const clientCa = await selfSignedCa(dir, 'client-ca', 'Berth Test Client CA');
  const client = await issueClient('client', clientCa);
  return {
    dir,
    root,
    intermediate,
    server,
    clientCa,
    client,
    issueServer,
    issueClient,
    issueCa: (name) => selfSignedCa(dir, name, `Berth Test ${name}`),
    async issueServerAt(name, hosts, notBefore, notAfter) {
      const leaf = await signWithDates(dir, name, intermediate, hosts, notBefore, notAfter);
      const bundle = join(dir, `${name}.bundle.crt`);
      await writeFile(bundle, Buffer.concat([await readFile(leaf.cert), await readFile(intermediate.cert)]));
      return { ...leaf, bundle };
    },
  };
}
