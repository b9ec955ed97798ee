/**
 * Secret redaction for anything that shows configuration to people (`config check`, logs).
 * Redaction goes by key name so a credential added to the schema later is hidden by default.
 */
import { stringify } from 'yaml';
import { formatGoDuration } from './duration.js';
import { REDACTED } from './redacted.js';
import { type Config, ConfigSchema } from './schema.js';
import { isPlainObject, mapLeaves } from './schema-walk.js';

export { REDACTED };

/** Key names that hold credentials: http.secret, redis.password, s3 secretkey/accesskey/sessiontoken, … */
const CREDENTIAL_NAME = /pass(word)?|secret|token|accesskey|accountkey|private_?key|api_?key|credential/i;
/** …unless they only point at one: keyfile, signingkeyfile, tokenurl, token_uri, keyid, clientid. */
const REFERENCE_NAME = /(file|path|bundle|ur[il]|id|type)$/i;
/** Header names whose values are credentials (notification endpoints, health checks). */
const CREDENTIAL_HEADER = /authorization|cookie|token|secret|api-?key|password/i;

/** Whether a key of that name holds a credential rather than, say, a path to one. */
export function isCredentialKey(name: string): boolean {
  return CREDENTIAL_NAME.test(name) && !REFERENCE_NAME.test(name);
}

/** `scheme://user:password@host…`: the user part is kept so the output still says who connects. */
const URL_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*):[^/?#]*@/i;

/** Hides the password inside a URL, leaving every other string exactly as it was. */
function redactUrlPassword(value: string): string {
  return value.replace(URL_PASSWORD, `$1:${REDACTED}@`);
}

function redactValue(key: string, value: unknown, inHeaders: boolean): unknown {
  if (Array.isArray(value)) {
    if (inHeaders && CREDENTIAL_HEADER.test(key)) return value.map(() => REDACTED);
    return value.map((item) => redactValue('', item, false));
  }
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactValue(k, v, key.toLowerCase() === 'headers');
    return out;
  }
  if (value === null || value === undefined || typeof value === 'boolean') return value;
  if (isCredentialKey(key) || (inHeaders && CREDENTIAL_HEADER.test(key))) return REDACTED;
  return typeof value === 'string' ? redactUrlPassword(value) : value;
}

/**
 * A deep copy of `config` with every credential replaced by `"<redacted>"`: http.secret,
 * redis.password, storage.s3.accesskey/secretkey, storage.azure.accountkey, proxy.password,
 * credential headers such as Authorization, and passwords inside URLs. `config` is not modified.
 */
export function redactConfig<T>(config: T): T {
  return redactValue('', config, false) as T;
}

/**
 * The effective configuration as config.yml text, secrets redacted and durations written back as
 * Go durations ("168h0m0s"), so the output is valid input for Berth and for registry:2.
 */
export function renderConfig(config: Config): string {
  const copy = redactConfig(config);
  mapLeaves(copy, ConfigSchema, (_path, value, node) =>
    node.kind === 'duration' && typeof value === 'number' ? formatGoDuration(value) : value,
  );
  return stringify(copy, { version: '1.1' });
}
