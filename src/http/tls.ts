/**
 * HTTPS for the registry, configured as distribution's `http.tls`: a certificate file (a bundle
 * of leaf and intermediates serves the whole chain) and key, mutual TLS (`clientcas`,
 * `clientauth`), `minimumtls` (default tls1.2) and `ciphersuites` in Go's names. The files are
 * watched and reloaded into the running server when they change, so a certificate is rotated
 * without a restart; a half-written rotation (new certificate, old key) keeps the old pair
 * serving until both files agree. `letsencrypt` hands the certificates to the ACME manager.
 */

import { X509Certificate } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type RequestListener, type Server, type ServerOptions } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { dirname } from 'node:path';
import { createSecureContext, type SecureContextOptions, type SecureVersion, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { DEFAULT_CIPHER_SUITES, translateCipherSuites } from './tls-ciphers.js';

/** The server the registry listens with: plain node:http, or node:https when TLS is configured. */
export type HttpServer = Server | HttpsServer;

type TlsConfig = NonNullable<Config['http']['tls']>;

const MIN_VERSIONS: Readonly<Record<string, SecureVersion>> = {
  'tls1.0': 'TLSv1',
  'tls1.1': 'TLSv1.1',
  'tls1.2': 'TLSv1.2',
  'tls1.3': 'TLSv1.3',
};

export const CLIENT_AUTH_MODES = ['require-and-verify-client-cert', 'verify-client-cert-if-given'] as const;
export type ClientAuthMode = (typeof CLIENT_AUTH_MODES)[number];

/** `http.tls.letsencrypt`, checked. */
export interface LetsEncryptPlan {
  /** Where account and certificates are cached (a file; a directory gets `berth-acme.json` inside). */
  cacheFile: string;
  /** Contact address given to the ACME server, if any. */
  email: string | undefined;
  /** Host names to obtain certificates for, lower-cased. */
  hosts: string[];
  /** The ACME directory (Let's Encrypt production unless configured). */
  directoryUrl: string;
}

/** `http.tls`, checked and translated for Node. */
export interface TlsPlan {
  /** Certificate (bundle) file; absent with Let's Encrypt. */
  certificate: string | undefined;
  /** Private key file; absent with Let's Encrypt. */
  key: string | undefined;
  /** CA bundles that client certificates must chain to (mutual TLS); empty for none. */
  clientCas: string[];
  /** Whether a client certificate is required or only verified when given. */
  clientAuth: ClientAuthMode;
  /** The lowest protocol version accepted. */
  minVersion: SecureVersion;
  /** OpenSSL cipher string. */
  ciphers: string;
  /** Set when certificates come from an ACME server. */
  letsencrypt: LetsEncryptPlan | undefined;
}

export const LETS_ENCRYPT_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory';

/**
 * Checks `http.tls` and decides whether to serve HTTPS.
 * @returns undefined when neither a certificate nor Let's Encrypt is configured (plain HTTP)
 * @throws Error with a message naming the offending key
 */
export function planTls(tls: TlsConfig | undefined, logger?: Logger): TlsPlan | undefined {
  if (tls === undefined) return undefined;
  const le = tls.letsencrypt;
  const certificate = tls.certificate?.trim() || undefined;
  const key = tls.key?.trim() || undefined;
  if (le !== undefined && certificate !== undefined) {
    throw new Error('http.tls: configure either certificate/key or letsencrypt, not both');
  }
  if (le === undefined && certificate === undefined) {
    if (key !== undefined) throw new Error('http.tls.key is set without http.tls.certificate');
    if ((tls.clientcas ?? []).length > 0)
      throw new Error('http.tls.clientcas needs http.tls.certificate or letsencrypt');
    return undefined;
  }
  if (certificate !== undefined && key === undefined) {
    throw new Error('http.tls.key is required with http.tls.certificate');
  }
  const minimum = tls.minimumtls ?? 'tls1.2';
  const minVersion = MIN_VERSIONS[minimum] as SecureVersion;
  if (minimum === 'tls1.0' || minimum === 'tls1.1') {
    logger?.warn({ minimumtls: minimum }, 'http.tls.minimumtls allows deprecated TLS versions');
  }
  const cipherList = translateCipherSuites(tls.ciphersuites ?? DEFAULT_CIPHER_SUITES);
  if (cipherList.insecure.length > 0) {
    logger?.warn({ suites: cipherList.insecure }, 'http.tls.ciphersuites enables suites Go calls insecure');
  }
  const clientAuth = (tls.clientauth?.trim() || 'require-and-verify-client-cert') as ClientAuthMode;
  if (!CLIENT_AUTH_MODES.includes(clientAuth)) {
    throw new Error(`http.tls.clientauth: expected one of ${CLIENT_AUTH_MODES.join(', ')}, got ${tls.clientauth}`);
  }
  return {
    certificate,
    key,
    clientCas: (tls.clientcas ?? []).map((path) => path.trim()).filter((path) => path !== ''),
    clientAuth,
    minVersion,
    ciphers: cipherList.ciphers,
    letsencrypt: le === undefined ? undefined : planLetsEncrypt(le),
  };
}

function planLetsEncrypt(le: NonNullable<TlsConfig['letsencrypt']>): LetsEncryptPlan {
  const cacheFile = le.cachefile?.trim();
  if (!cacheFile) throw new Error('http.tls.letsencrypt.cachefile is required');
  const hosts = [...new Set((le.hosts ?? []).map((host) => host.trim().toLowerCase()).filter(Boolean))];
  if (hosts.length === 0) {
    // autocert without a host list would request a certificate for any name a client sends.
    throw new Error('http.tls.letsencrypt.hosts: list the host names to obtain certificates for');
  }
  const directoryUrl = le.directoryurl?.trim() || LETS_ENCRYPT_DIRECTORY;
  if (!URL.canParse(directoryUrl)) throw new Error(`http.tls.letsencrypt.directoryurl: not a URL: ${directoryUrl}`);
  return { cacheFile, email: le.email?.trim() || undefined, hosts, directoryUrl };
}

/** The certificate, key and client CAs as read from disk. */
interface Credentials {
  cert: Buffer;
  key: Buffer;
  ca: Buffer[];
}

async function readCredentials(plan: TlsPlan): Promise<Credentials> {
  const read = async (path: string, key: string): Promise<Buffer> => {
    try {
      return await readFile(path);
    } catch (error) {
      throw new Error(`${key}: cannot read ${path}: ${(error as Error).message}`, { cause: error });
    }
  };
  const [cert, key, ca] = await Promise.all([
    plan.certificate === undefined ? Buffer.alloc(0) : read(plan.certificate, 'http.tls.certificate'),
    plan.key === undefined ? Buffer.alloc(0) : read(plan.key, 'http.tls.key'),
    Promise.all(plan.clientCas.map((path) => read(path, 'http.tls.clientcas'))),
  ]);
  return { cert, key, ca };
}

function sameCredentials(a: Credentials, b: Credentials): boolean {
  return (
    a.cert.equals(b.cert) &&
    a.key.equals(b.key) &&
    a.ca.length === b.ca.length &&
    a.ca.every((c, i) => c.equals(b.ca[i] as Buffer))
  );
}

/** Options shared by every secure context of the server (also the ACME-managed ones). */
export function baseContextOptions(plan: TlsPlan, ca: Buffer[] = []): SecureContextOptions {
  return {
    minVersion: plan.minVersion,
    ciphers: plan.ciphers,
    // Like Go's crypto/tls with PreferServerCipherSuites: our order of the configured suites wins.
    honorCipherOrder: true,
    ...(ca.length > 0 ? { ca } : {}),
  };
}

/**
 * The complete secure-context options for `credentials`, checked by building a context.
 * @throws Error naming the files when they do not form a usable pair
 */
function contextOptions(plan: TlsPlan, credentials: Credentials): SecureContextOptions {
  const options: SecureContextOptions = {
    ...baseContextOptions(plan, credentials.ca),
    cert: credentials.cert,
    key: credentials.key,
  };
  try {
    createSecureContext(options);
    new X509Certificate(credentials.cert);
  } catch (error) {
    throw new Error(
      `http.tls: cannot serve certificate ${plan.certificate} with key ${plan.key}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return options;
}

function describeCertificate(pem: Buffer): { subject: string; validTo: string; serial: string } {
  const cert = new X509Certificate(pem);
  return { subject: cert.subject.replaceAll('\n', ', '), validTo: cert.validTo, serial: cert.serialNumber };
}

/** How the registry's server is created and what runs beside it (file watchers, ACME). */
export interface Transport {
  /** `http` or `https`, for the URL the server reports. */
  readonly scheme: 'http' | 'https';
  /** Creates the (not yet listening) server with `options` plus the TLS settings. */
  createServer(options: ServerOptions, listener: RequestListener): HttpServer;
  /** Starts what needs a listening server (ACME challenges need the port open). */
  start(): void;
  /** Stops watchers and timers; idempotent. */
  close(): void;
}

/** Node's TLS options for client certificates under `plan`. */
export function clientAuthOptions(plan: TlsPlan): { requestCert: boolean; rejectUnauthorized: boolean } {
  if (plan.clientCas.length === 0) return { requestCert: false, rejectUnauthorized: false };
  return { requestCert: true, rejectUnauthorized: plan.clientAuth === 'require-and-verify-client-cert' };
}

/**
 * With `verify-client-cert-if-given` the handshake accepts any certificate, so one that does
 * not verify is refused here: no certificate is fine, a bad one is not.
 */
export function refuseUnverifiedClients(server: HttpsServer, plan: TlsPlan, logger: Logger): void {
  if (plan.clientCas.length === 0 || plan.clientAuth !== 'verify-client-cert-if-given') return;
  server.prependListener('secureConnection', (socket: TLSSocket) => {
    const peer = socket.getPeerCertificate();
    if (socket.authorized || peer === null || Object.keys(peer).length === 0) return;
    logger.info({ remoteAddr: socket.remoteAddress, reason: socket.authorizationError }, 'client certificate refused');
    socket.destroy();
  });
}

/**
 * Builds the transport for `http.tls`: plain HTTP when TLS is not configured.
 * Reads and checks the certificate files (or prepares ACME) before anything listens.
 * @throws Error naming the key or file at fault
 */
export async function createTransport(http: Config['http'], logger: Logger): Promise<Transport> {
  const planned = planTls(http.tls, logger);
  if (planned === undefined) {
    return {
      scheme: 'http',
      createServer: (options, listener) => createHttpServer(options, listener),
      start() {},
      close() {},
    };
  }
  const plan: TlsPlan = planned;
  if (plan.letsencrypt !== undefined) {
    // Loaded only here: acme-client and its HTTP stack cost start-up time nobody else should pay.
    const { createAcmeTransport } = await import('./acme.js');
    return createAcmeTransport(plan, plan.letsencrypt, (await readCredentials(plan)).ca, logger);
  }
  let current = await readCredentials(plan);
  let options = contextOptions(plan, current);
  logger.info({ certificate: plan.certificate, ...describeCertificate(current.cert) }, 'serving TLS');
  let server: HttpsServer | undefined;
  let watcher: { close(): void } | undefined;

  async function reload(): Promise<void> {
    const next = await readCredentials(plan);
    if (sameCredentials(current, next)) return;
    const nextOptions = contextOptions(plan, next);
    server?.setSecureContext(nextOptions);
    current = next;
    options = nextOptions;
    logger.info({ certificate: plan.certificate, ...describeCertificate(next.cert) }, 'TLS certificate reloaded');
  }

  return {
    scheme: 'https',
    createServer(httpOptions, listener) {
      server = createHttpsServer({ ...httpOptions, ...options, ...clientAuthOptions(plan) }, listener);
      refuseUnverifiedClients(server, plan, logger);
      return server;
    },
    start() {
      const files = [plan.certificate, plan.key, ...plan.clientCas].filter((f): f is string => f !== undefined);
      watcher = watchFiles(files, reload, logger);
    },
    close() {
      watcher?.close();
      watcher = undefined;
    },
  };
}

/** Debounce for bursts of events (an editor or `cp` writes in several steps). */
const SETTLE_MS = 150;
/** Polling fallback for filesystems without change events (some network and bind mounts). */
const POLL_MS = 30_000;

/**
 * Calls `reload` after any change in the directories holding `files` (watching directories, not
 * files, survives atomic renames and Kubernetes' symlink swaps), and every POLL_MS regardless.
 * A reload that fails is logged and retried on the next change: the old certificate keeps serving.
 */
export function watchFiles(files: readonly string[], reload: () => Promise<void>, logger: Logger): { close(): void } {
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let again = false;
  let closed = false;
  const run = async (): Promise<void> => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        try {
          await reload();
        } catch (error) {
          logger.warn(
            { err: error },
            'TLS files changed but cannot be used yet; still serving the previous certificate',
          );
        }
      } while (again && !closed);
    } finally {
      running = false;
    }
  };
  const schedule = (): void => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(() => void run(), SETTLE_MS);
    timer.unref();
  };
  const watchers: FSWatcher[] = [];
  for (const dir of new Set(files.map((file) => dirname(file)))) {
    try {
      const w = watch(dir, { persistent: false }, schedule);
      w.on('error', (error) => logger.warn({ err: error, dir }, 'stopped watching TLS files'));
      watchers.push(w);
    } catch (error) {
      logger.warn({ err: error, dir }, 'cannot watch TLS files; relying on polling');
    }
  }
  const poll = setInterval(() => void run(), POLL_MS);
  poll.unref();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      clearInterval(poll);
      for (const w of watchers) w.close();
    },
  };
}
