/**
 * `http.tls.ciphersuites` speaks Go's crypto/tls names (what distribution's config takes); Node
 * speaks OpenSSL's. This table translates one to the other, and holds distribution's default
 * list, so a config.yml written for registry:2 negotiates the same suites under Berth.
 */

/** Go name → OpenSSL name, for every suite Go's crypto/tls knows and OpenSSL 3 can serve. */
const GO_TO_OPENSSL: Readonly<Record<string, string>> = {
  // TLS 1.0–1.2
  TLS_RSA_WITH_3DES_EDE_CBC_SHA: 'DES-CBC3-SHA',
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_CBC_SHA256: 'AES128-SHA256',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: 'ECDHE-ECDSA-AES128-SHA256',
  TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA: 'ECDHE-RSA-DES-CBC3-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: 'ECDHE-RSA-AES128-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  // Go's legacy aliases of the two above.
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  // TLS 1.3: OpenSSL uses the IANA names.
  TLS_AES_128_GCM_SHA256: 'TLS_AES_128_GCM_SHA256',
  TLS_AES_256_GCM_SHA384: 'TLS_AES_256_GCM_SHA384',
  TLS_CHACHA20_POLY1305_SHA256: 'TLS_CHACHA20_POLY1305_SHA256',
};

/** Suites Go lists as insecure: accepted, with a warning at start-up. */
const INSECURE: ReadonlySet<string> = new Set([
  'TLS_RSA_WITH_3DES_EDE_CBC_SHA',
  'TLS_RSA_WITH_AES_128_CBC_SHA256',
  'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256',
  'TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA',
  'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256',
]);

/** Go knows these, OpenSSL 3 no longer ships them: refused with a message saying so. */
const UNAVAILABLE: ReadonlySet<string> = new Set([
  'TLS_RSA_WITH_RC4_128_SHA',
  'TLS_ECDHE_ECDSA_WITH_RC4_128_SHA',
  'TLS_ECDHE_RSA_WITH_RC4_128_SHA',
]);

/** distribution's list when `ciphersuites` is not set. */
export const DEFAULT_CIPHER_SUITES: readonly string[] = [
  'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
  'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_256_GCM_SHA384',
];

const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_256_GCM_SHA384'];

export interface CipherList {
  /** The OpenSSL cipher string for Node's `ciphers` option (TLS 1.3 and older suites together). */
  ciphers: string;
  /** Configured suites Go calls insecure, for a start-up warning. */
  insecure: string[];
}

/**
 * Translates Go suite names into an OpenSSL cipher string.
 * Go cannot restrict TLS 1.3 suites, so a list without any keeps all three enabled, as under
 * registry:2; a list that names some restricts TLS 1.3 to those.
 * @throws Error naming every unknown or unavailable suite
 */
export function translateCipherSuites(names: readonly string[]): CipherList {
  const problems: string[] = [];
  const openssl: string[] = [];
  for (const name of names) {
    const mapped = GO_TO_OPENSSL[name.trim()];
    if (mapped !== undefined) {
      if (!openssl.includes(mapped)) openssl.push(mapped);
    } else if (UNAVAILABLE.has(name.trim())) {
      problems.push(`${name} (RC4 is not available in this TLS library)`);
    } else {
      problems.push(name);
    }
  }
  if (problems.length > 0) {
    throw new Error(
      `http.tls.ciphersuites: unknown TLS cipher suite ${problems.join(', ')}; expected Go names such as ${DEFAULT_CIPHER_SUITES[0]}`,
    );
  }
  if (openssl.length === 0) throw new Error('http.tls.ciphersuites: the list is empty');
  if (!openssl.some((suite) => TLS13_SUITES.includes(suite))) openssl.push(...TLS13_SUITES);
  return { ciphers: openssl.join(':'), insecure: names.filter((name) => INSECURE.has(name.trim())) };
}
