/**
 * `http.tls.letsencrypt`: certificates obtained and renewed from an ACME server (Let's Encrypt
 * by default, any RFC 8555 server through `directoryurl`) with acme-client, validated by
 * TLS-ALPN-01 on the registry's own port — no second listener, as with registry:2's autocert.
 *
 * One certificate per configured host. Account and certificates live in `cachefile` (see
 * acme-store.ts), so a restart reuses them instead of asking again, and so do all the worker
 * processes of one machine: one of them (holding the host's lock) talks to the CA, publishes the
 * challenge certificate for whichever process the validation reaches, and writes the result;
 * every process watches the cache file and installs what appears in it.
 *
 * A certificate is renewed when a third of its lifetime (at most 30 days) is left; checks run at
 * start and then on a timer, and a failed attempt is retried with backoff while the old
 * certificate keeps serving. Handshakes for a host whose first certificate is on its way wait.
 */
import { X509Certificate } from 'node:crypto';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createSecureContext, createServer as createTlsServer, type SecureContext, type TLSSocket } from 'node:tls';
import * as acme from 'acme-client';
import type { Logger } from 'pino';
import { ACME_TLS_ALPN, routeAcmeTlsAlpn } from './acme-alpn.js';
import { type AcmeStore, type CacheData, type CachedCertificate, openAcmeStore } from './acme-store.js';
import {
  baseContextOptions,
  clientAuthOptions,
  type LetsEncryptPlan,
  refuseUnverifiedClients,
  type TlsPlan,
  type Transport,
  watchFiles,
} from './tls.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Renew when this much (or a third of the lifetime, if less) is left, as Let's Encrypt advises. */
const RENEW_BEFORE_MS = 30 * DAY_MS;
/** Longest pause between two checks. */
const CHECK_EVERY_MS = 12 * 60 * 60 * 1000;
const RETRY_MIN_MS = 60 * 1000;
const RETRY_MAX_MS = 60 * 60 * 1000;
/** How soon to look again when another process holds a host's lock. */
const ELSEWHERE_RECHECK_MS = 30 * 1000;
/** How long a handshake waits for a host's first certificate. */
const HANDSHAKE_WAIT_MS = 120 * 1000;

interface Installed {
  context: SecureContext;
  chain: string;
  notBefore: number;
  notAfter: number;
}

/** When a certificate valid over [notBefore, notAfter] should be replaced. */
export function renewalTime(notBefore: number, notAfter: number): number {
  return notAfter - Math.min(RENEW_BEFORE_MS, (notAfter - notBefore) / 3);
}

/**
 * Builds the HTTPS transport whose certificates come from the ACME server.
 * @param ca client CA bundles for mutual TLS (may be empty)
 * @throws Error when the cache file exists but cannot be read
 */
export async function createAcmeTransport(
  plan: TlsPlan,
  le: LetsEncryptPlan,
  ca: Buffer[],
  logger: Logger,
): Promise<Transport> {
  const log = logger.child({ component: 'acme' });
  acme.setLogger((message) => log.debug(message));
  const base = baseContextOptions(plan, ca);
  const store: AcmeStore = await openAcmeStore(le.cacheFile, log);
  const installed = new Map<string, Installed>();
  const pending = new Map<string, Promise<void>>();
  /** When to look at a host again after a failure (with the failure count) or another process's lock. */
  const retries = new Map<string, { count: number; at: number }>();
  const waiters = new Map<string, Array<() => void>>();
  const challenges = new Map<string, SecureContext>();
  let server: HttpsServer | undefined;
  /** What a client that sends no server name gets (set once a certificate is installed). */
  let fallback: { key: string; cert: string } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let watcher: { close(): void } | undefined;
  let closed = false;

  function install(host: string, cert: CachedCertificate): Installed {
    const x509 = new X509Certificate(cert.chain);
    const entry: Installed = {
      context: createSecureContext({ ...base, key: cert.key, cert: cert.chain }),
      chain: cert.chain,
      notBefore: Date.parse(x509.validFrom),
      notAfter: Date.parse(x509.validTo),
    };
    installed.set(host, entry);
    if (host === le.hosts[0] || fallback === undefined) {
      fallback = { key: cert.key, cert: cert.chain };
      server?.setSecureContext({ ...base, ...fallback });
    }
    for (const wake of waiters.get(host) ?? []) wake();
    waiters.delete(host);
    return entry;
  }

  /** Installs every certificate in `data` that differs from the one serving. */
  function installFrom(data: CacheData, how: string): void {
    for (const host of le.hosts) {
      const cert = data.certificates[host];
      if (cert === undefined || installed.get(host)?.chain === cert.chain) continue;
      try {
        const entry = install(host, cert);
        log.info({ host, validTo: new Date(entry.notAfter).toISOString() }, `certificate ${how}`);
      } catch (error) {
        log.warn({ host, err: error }, 'ignoring an unusable cached certificate');
      }
    }
  }

  async function obtain(host: string): Promise<'done' | 'elsewhere'> {
    const unlock = await store.lock(host);
    if (unlock === undefined) return 'elsewhere';
    try {
      // Another process may have renewed it while this one waited for the lock.
      const data = await store.load();
      installFrom(data, 'loaded from the cache');
      const current = installed.get(host);
      if (current !== undefined && renewalTime(current.notBefore, current.notAfter) > Date.now()) return 'done';
      const known = data.accounts[le.directoryUrl];
      const accountKey = known?.key ?? (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
      const client = new acme.Client({
        directoryUrl: le.directoryUrl,
        accountKey,
        ...(known?.url === undefined ? {} : { accountUrl: known.url }),
      });
      if (known?.url === undefined) {
        // Registered before ordering and kept at once, so failed orders never pile up new accounts.
        await client.createAccount({
          termsOfServiceAgreed: true,
          ...(le.email === undefined ? {} : { contact: [`mailto:${le.email}`] }),
        });
        const account = { key: accountKey, url: client.getAccountUrl() };
        await store.update((latest) => {
          latest.accounts[le.directoryUrl] = account;
        });
      }
      const certKey = await acme.crypto.createPrivateEcdsaKey('P-256');
      const [, csr] = await acme.crypto.createCsr({ commonName: host, altNames: [host] }, certKey);
      log.info({ host, directory: le.directoryUrl }, 'requesting a certificate');
      const chain = await client.auto({
        csr,
        ...(le.email === undefined ? {} : { email: le.email }),
        termsOfServiceAgreed: true,
        challengePriority: ['tls-alpn-01'],
        // The ACME server validates; acme-client's own pre-check would wait on DNS that may not exist yet.
        skipChallengeVerification: true,
        challengeCreateFn: async (authz, challenge, keyAuthorization) => {
          if ((challenge.type as string) !== 'tls-alpn-01')
            throw new Error(`cannot serve a ${challenge.type} challenge`);
          const name = authz.identifier.value.toLowerCase();
          const [key, cert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization);
          challenges.set(name, createSecureContext({ key, cert }));
          await store.publishChallenge(name, { key: key.toString(), cert: cert.toString() });
        },
        challengeRemoveFn: async (authz) => {
          const name = authz.identifier.value.toLowerCase();
          challenges.delete(name);
          await store.withdrawChallenge(name);
        },
      });
      const cert: CachedCertificate = { key: certKey.toString(), chain };
      await store.update((latest) => {
        latest.certificates[host] = cert;
      });
      const entry = install(host, cert);
      log.info({ host, validTo: new Date(entry.notAfter).toISOString() }, 'certificate obtained');
      return 'done';
    } finally {
      await unlock();
    }
  }

  /** Obtains `host`'s certificate unless already on its way; failures are recorded, not thrown. */
  function ensure(host: string): Promise<void> {
    const running = pending.get(host);
    if (running !== undefined) return running;
    const attempt = obtain(host)
      .then(
        (outcome) => {
          if (outcome === 'done') retries.delete(host);
          // Another process is at it: its result arrives through the cache file.
          else retries.set(host, { count: retries.get(host)?.count ?? 0, at: Date.now() + ELSEWHERE_RECHECK_MS });
        },
        (error: unknown) => {
          const count = (retries.get(host)?.count ?? 0) + 1;
          const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** (count - 1));
          retries.set(host, { count, at: Date.now() + delay });
          log.error({ host, err: error, retryInMs: delay }, 'could not obtain a certificate');
        },
      )
      .finally(() => pending.delete(host));
    pending.set(host, attempt);
    return attempt;
  }

  function dueAt(host: string): number {
    const entry = installed.get(host);
    const renewAt = entry === undefined ? 0 : renewalTime(entry.notBefore, entry.notAfter);
    const retry = retries.get(host);
    return retry === undefined ? renewAt : Math.max(renewAt, retry.at);
  }

  async function check(): Promise<void> {
    if (closed) return;
    const now = Date.now();
    await Promise.all(le.hosts.filter((host) => dueAt(host) <= now).map((host) => ensure(host)));
    if (closed) return;
    const next = Math.min(...le.hosts.map(dueAt));
    const delay = Math.max(1000, Math.min(CHECK_EVERY_MS, next - Date.now()));
    clearTimeout(timer);
    timer = setTimeout(() => void check(), delay);
    timer.unref();
  }

  function sniCallback(servername: string, callback: (error: Error | null, context?: SecureContext) => void): void {
    const host = servername.toLowerCase();
    const configured = le.hosts.includes(host);
    const entry = installed.get(host) ?? (configured ? undefined : installed.get(le.hosts[0] ?? ''));
    if (entry !== undefined) {
      callback(null, entry.context);
      return;
    }
    if (!configured) {
      callback(new Error(`no certificate for ${host}`));
      return;
    }
    // The first certificate is on its way (here or in another process): wait for it.
    const timeout = setTimeout(() => {
      waiters.set(
        host,
        (waiters.get(host) ?? []).filter((w) => w !== wake),
      );
      callback(new Error(`no certificate for ${host} yet`));
    }, HANDSHAKE_WAIT_MS);
    timeout.unref();
    const wake = (): void => {
      clearTimeout(timeout);
      callback(null, installed.get(host)?.context);
    };
    waiters.set(host, [...(waiters.get(host) ?? []), wake]);
  }

  installFrom(await store.load(), 'loaded from the cache');

  const challengeServer = createTlsServer({
    ALPNProtocols: [ACME_TLS_ALPN],
    SNICallback: (servername, callback) => {
      const name = servername.toLowerCase();
      const local = challenges.get(name);
      if (local !== undefined || !le.hosts.includes(name)) {
        callback(null, local);
        return;
      }
      // The order may belong to another worker process: it published the certificate.
      store.readChallenge(name).then(
        (shared) => {
          if (shared !== undefined) log.debug({ host: name }, 'answering a challenge another process published');
          callback(null, shared === undefined ? undefined : createSecureContext(shared));
        },
        () => callback(null, undefined),
      );
    },
  });
  challengeServer.on('secureConnection', (socket: TLSSocket) => {
    socket.on('error', () => socket.destroy());
    socket.end();
  });
  challengeServer.on('tlsClientError', (error, socket) => {
    log.debug({ err: error, remoteAddr: socket.remoteAddress }, 'TLS-ALPN-01 handshake failed');
  });

  return {
    scheme: 'https',
    createServer(httpOptions, listener) {
      server = createHttpsServer(
        { ...httpOptions, ...base, ...fallback, ...clientAuthOptions(plan), SNICallback: sniCallback },
        listener,
      );
      refuseUnverifiedClients(server, plan, logger);
      routeAcmeTlsAlpn(server, challengeServer);
      return server;
    },
    start() {
      watcher = watchFiles(
        [store.path],
        async () => {
          installFrom(await store.load(), 'loaded from the cache');
        },
        log,
      );
      void check();
    },
    close() {
      closed = true;
      clearTimeout(timer);
      watcher?.close();
    },
  };
}
