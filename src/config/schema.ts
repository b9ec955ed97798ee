/**
 * The schema of distribution's config.yml (version 0.1), with distribution's defaults applied so
 * consumers read definite values. Keys are lower-case exactly as distribution's YAML tags are.
 * Unknown keys are stripped here; the loader reports them as warnings before parsing.
 * Durations are Go duration strings in the file and milliseconds in {@link Config}.
 *
 * Written with valibot rather than zod: the configuration is checked on every start, before any
 * worker can serve, and importing zod 4 took 0.12 s of a 2-core test machine's CPU against 0.015 s
 * for valibot.
 */
import * as v from 'valibot';
import { parseByteSize } from './byte-size.js';
import { parseGoDuration } from './duration.js';

/** The storage driver names Berth knows. Exactly one of them must be configured. */
export const STORAGE_DRIVERS = ['filesystem', 'inmemory', 's3', 'azure', 'gcs'] as const;
/** Keys under `storage` that tune storage rather than select a driver. */
export const STORAGE_PARAMETER_KEYS = ['delete', 'redirect', 'cache', 'maintenance', 'tag'] as const;
/** The access controllers distribution offers; at most one may be configured. */
export const AUTH_TYPES = ['silly', 'token', 'htpasswd'] as const;

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATTERS = ['text', 'json', 'logfmt'] as const;
export type LogFormatter = (typeof LOG_FORMATTERS)[number];

/** Any schema of the configuration. */
export type Schema = v.GenericSchema;

const durationSchemas = new WeakSet<Schema>();

/** Whether `schema` is a Go-duration field (so printing can turn milliseconds back into "10s"). */
export function isDurationSchema(schema: Schema): boolean {
  return durationSchemas.has(schema);
}

/** Go's yaml.v2 decodes any scalar into a string field as its text; numbers and booleans become strings. */
function scalarText(value: unknown): unknown {
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : value;
}

/** `schema`, checking the input only once `prepare` has adjusted it. */
function preprocess<T extends Schema>(prepare: (value: unknown) => unknown, schema: T) {
  return v.pipe(v.unknown(), v.transform(prepare), schema);
}

const str = () => preprocess(scalarText, v.string());
const strList = () => v.array(str());
const bool = () => v.boolean();
const int = () => v.pipe(v.number(), v.integer());
const intAtLeast = (min: number) => v.pipe(v.number(), v.integer(), v.minValue(min));

/** Storage driver parameters reach Go drivers untyped, so drivers accept "true" and "5" as well. */
const looseBool = () => preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), v.boolean());
const looseInt = <T extends Schema>(schema: T) =>
  preprocess((v) => (typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v), schema);

/** A value `parse` turns into a number; when it cannot (undefined), the issue says `expected`. */
function parsedBy(parse: (value: unknown) => number | undefined, expected: string) {
  return v.pipe(
    v.unknown(),
    v.rawTransform(({ dataset, addIssue, NEVER }): number => {
      const parsed = parse(dataset.value);
      if (parsed === undefined) {
        addIssue({ message: expected });
        return NEVER;
      }
      return parsed;
    }),
  );
}

/** A Go duration in milliseconds; a bare YAML integer is nanoseconds, as Go decodes it into time.Duration. */
function duration() {
  const schema = parsedBy(
    (value) =>
      typeof value === 'number' && Number.isFinite(value)
        ? value / 1e6
        : typeof value === 'string'
          ? parseGoDuration(value.trim())
          : undefined,
    'expected a Go duration such as "10s", "1h30m" or "168h"',
  );
  durationSchemas.add(schema);
  return schema;
}

/** A byte count: an integer, or a string with a unit such as "512MiB" or "10GB" (see byte-size.ts). */
const byteSize = () => parsedBy(parseByteSize, 'expected a byte size such as 1048576, "512MiB" or "10GB"');

/**
 * A mapping that YAML may leave empty (`inmemory:` parses as null), which means "present, all
 * defaults". A list is not a mapping, though valibot's object schema would take it for one.
 */
function section<T extends v.ObjectEntries>(entries: T) {
  return v.pipe(
    v.unknown(),
    v.transform((value) => (value === null ? {} : value)),
    v.check((value) => !Array.isArray(value), 'expected object, got a list'),
    v.object(entries),
  );
}

/** `storage: inmemory` / `auth: htpasswd` select a type with no parameters, as distribution allows. */
export function normalizeSelector(value: unknown): unknown {
  return typeof value === 'string' ? { [value]: {} } : value;
}

const headerMap = () =>
  v.record(
    v.string(),
    preprocess((value) => (Array.isArray(value) ? value : [value]), strList()),
  );

/** A mapping with whatever keys and values the file gives it. */
const anyMap = () => v.record(v.string(), v.unknown());

/** Points an issue that a check of a whole mapping found at one of its keys. */
function keyPath(input: Record<string, unknown>, key: string): v.ObjectPathItem {
  return { type: 'object', origin: 'value', input, key, value: input[key] };
}

const LogSchema = section({
  level: v.optional(
    preprocess((level) => (typeof level === 'string' ? level.toLowerCase() : level), v.picklist(LOG_LEVELS)),
    'info',
  ),
  formatter: v.optional(v.picklist(LOG_FORMATTERS), 'text'),
  fields: v.optional(anyMap()),
  reportcaller: v.optional(bool()),
  accesslog: v.optional(section({ disabled: v.optional(bool(), false) }), {}),
});

const FilesystemSchema = section({
  rootdirectory: v.optional(str(), '/var/lib/registry'),
  maxthreads: v.optional(looseInt(intAtLeast(25)), 100),
  // A Berth extension: large upload writes with O_DIRECT (see storage/drivers/file-batch-writer.ts).
  directio: v.optional(looseBool()),
});

const S3Schema = section({
  accesskey: v.optional(str()),
  secretkey: v.optional(str()),
  sessiontoken: v.optional(str()),
  region: v.optional(str()),
  regionendpoint: v.optional(str()),
  forcepathstyle: v.optional(looseBool()),
  bucket: str(),
  encrypt: v.optional(looseBool()),
  keyid: v.optional(str()),
  secure: v.optional(looseBool()),
  skipverify: v.optional(looseBool()),
  v4auth: v.optional(looseBool()),
  chunksize: v.optional(looseInt(int())),
  multipartcopychunksize: v.optional(looseInt(int())),
  multipartcopymaxconcurrency: v.optional(looseInt(int())),
  multipartcopythresholdsize: v.optional(looseInt(int())),
  rootdirectory: v.optional(str()),
  storageclass: v.optional(str()),
  useragent: v.optional(str()),
  usedualstack: v.optional(looseBool()),
  accelerate: v.optional(looseBool()),
  objectacl: v.optional(str()),
  loglevel: v.optional(str()),
  checksumdisabled: v.optional(looseBool()),
  checksumalgorithm: v.optional(str()),
});

const AzureSchema = section({
  accountname: v.optional(str()),
  accountkey: v.optional(str()),
  container: str(),
  realm: v.optional(str()),
  serviceurl: v.optional(str()),
  rootdirectory: v.optional(str()),
  credentials: v.optional(
    section({
      type: v.optional(str()),
      clientid: v.optional(str()),
      tenantid: v.optional(str()),
      secret: v.optional(str()),
    }),
  ),
  copystatuspollmaxretry: v.optional(looseInt(int())),
  copystatuspolldelay: v.optional(duration()),
});

const GcsSchema = section({
  bucket: str(),
  keyfile: v.optional(str()),
  // A Google service-account JSON document: its keys (private_key, client_email, …) are Google's.
  credentials: v.optional(anyMap()),
  rootdirectory: v.optional(str()),
  chunksize: v.optional(looseInt(int())),
  useragent: v.optional(str()),
  maxconcurrency: v.optional(looseInt(int())),
});

const StorageObject = v.pipe(
  section({
    filesystem: v.optional(FilesystemSchema),
    inmemory: v.optional(section({})),
    s3: v.optional(S3Schema),
    azure: v.optional(AzureSchema),
    gcs: v.optional(GcsSchema),
    delete: v.optional(section({ enabled: v.optional(bool(), false) }), {}),
    redirect: v.optional(section({ disable: v.optional(bool(), false) }), {}),
    cache: v.optional(
      section({
        blobdescriptor: v.optional(str()),
        blobdescriptorsize: v.optional(int()),
      }),
    ),
    maintenance: v.optional(
      section({
        uploadpurging: v.optional(
          section({
            enabled: v.optional(bool(), true),
            age: v.optional(duration(), '168h'),
            interval: v.optional(duration(), '24h'),
            dryrun: v.optional(bool(), false),
          }),
          {},
        ),
        readonly: v.optional(section({ enabled: v.optional(bool(), false) }), {}),
        // Berth's online garbage collection; registry:2 has no such key and ignores it.
        gc: v.optional(
          v.pipe(
            section({
              enabled: v.optional(bool(), false),
              interval: v.optional(duration(), '1h'),
              graceperiod: v.optional(duration(), '1h'),
            }),
            v.rawCheck(({ dataset, addIssue }) => {
              if (!dataset.typed) return;
              for (const key of ['interval', 'graceperiod'] as const) {
                if (!(dataset.value[key] > 0)) {
                  addIssue({ message: 'must be a positive duration', path: [keyPath(dataset.value, key)] });
                }
              }
            }),
          ),
          {},
        ),
      }),
      {},
    ),
    tag: v.optional(section({ concurrencylimit: v.optional(intAtLeast(1)) })),
  }),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const storage = dataset.value;
    const drivers = STORAGE_DRIVERS.filter((d) => storage[d] !== undefined);
    if (drivers.length === 0) {
      addIssue({ message: `no storage driver configured (expected exactly one of ${STORAGE_DRIVERS.join(', ')})` });
    } else if (drivers.length > 1) {
      addIssue({
        message: `must configure exactly one storage driver, got ${drivers.join(', ')} (REGISTRY_STORAGE=<driver> selects one)`,
      });
    }
  }),
);

const AuthSchema = v.pipe(
  section({
    silly: v.optional(section({ realm: str(), service: str() })),
    token: v.optional(
      section({
        realm: str(),
        service: str(),
        issuer: str(),
        rootcertbundle: v.optional(str()),
        jwks: v.optional(str()),
        autoredirect: v.optional(bool()),
        autoredirectpath: v.optional(str()),
        signingalgorithms: v.optional(strList()),
        // Berth's built-in token server at <prefix>auth/token (distribution has none); see src/auth/token-server.ts.
        server: v.optional(
          section({
            htpasswd: section({ path: str() }),
            key: v.optional(str()),
            certificate: v.optional(str()),
            expiration: v.optional(duration(), '5m'),
            refreshexpiration: v.optional(duration(), '720h'),
          }),
        ),
      }),
    ),
    htpasswd: v.optional(section({ realm: str(), path: str() })),
  }),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const auth = dataset.value;
    const types = AUTH_TYPES.filter((t) => auth[t] !== undefined);
    if (types.length > 1) addIssue({ message: `must configure exactly one auth type, got ${types.join(', ')}` });
  }),
);

/** Berth's access rules (distribution has none): see src/auth/rules.ts for the semantics. */
const AccessSchema = section({
  groups: v.optional(v.record(v.string(), strList())),
  rules: v.optional(
    v.array(
      section({
        repositories: v.pipe(strList(), v.minLength(1)),
        actions: v.pipe(v.array(v.picklist(['pull', 'push', 'delete', '*'])), v.minLength(1)),
        users: v.optional(strList()),
        groups: v.optional(strList()),
        anonymous: v.optional(bool(), false),
      }),
    ),
    [],
  ),
});

const MiddlewareList = () =>
  v.optional(
    v.array(
      section({
        name: str(),
        disabled: v.optional(bool()),
        options: v.optional(anyMap()),
      }),
    ),
  );

const HttpSchema = section({
  addr: v.optional(str(), ':5000'),
  net: v.optional(v.picklist(['tcp', 'unix'])),
  host: v.optional(
    v.pipe(
      str(),
      v.check((url) => URL.canParse(url), 'expected an absolute URL such as "https://registry.example.com"'),
    ),
  ),
  prefix: v.optional(str()),
  secret: v.optional(str()),
  // Berth's own key: node:cluster workers sharing the port (default: one per CPU; see cli/cluster.ts).
  workers: v.optional(intAtLeast(1)),
  // Berth's own key: proxies whose X-Forwarded-For is believed for the logged client address (see http/client-address.ts).
  trustedproxies: v.optional(strList()),
  relativeurls: v.optional(bool(), false),
  draintimeout: v.optional(duration()),
  headers: v.optional(headerMap()),
  tls: v.optional(
    section({
      certificate: v.optional(str()),
      key: v.optional(str()),
      clientcas: v.optional(strList()),
      clientauth: v.optional(str()),
      minimumtls: v.optional(v.picklist(['tls1.0', 'tls1.1', 'tls1.2', 'tls1.3'])),
      ciphersuites: v.optional(strList()),
      letsencrypt: v.optional(
        section({
          cachefile: v.optional(str()),
          email: v.optional(str()),
          hosts: v.optional(strList()),
          directoryurl: v.optional(str()),
        }),
      ),
    }),
  ),
  // Berth's own keys (distribution has none): what one client may make the server do; 0 means no limit.
  limits: v.optional(
    section({
      maxheaderbytes: v.optional(byteSize(), 65536),
      maxmanifestbytes: v.optional(byteSize(), 4 * 1024 * 1024),
      maxchunkbytes: v.optional(byteSize(), 0),
      maxuploadbytes: v.optional(byteSize(), 0),
      maxconcurrentuploads: v.optional(intAtLeast(0), 0),
      idletimeout: v.optional(duration(), '2m'),
    }),
    {},
  ),
  debug: v.optional(
    section({
      addr: v.optional(str()),
      prometheus: v.optional(section({ enabled: v.optional(bool(), false), path: v.optional(str(), '/metrics') })),
    }),
  ),
  http2: v.optional(section({ disabled: v.optional(bool(), false) })),
  h2c: v.optional(section({ enabled: v.optional(bool(), false) })),
});

const EndpointSchema = section({
  name: str(),
  disabled: v.optional(bool(), false),
  url: str(),
  headers: v.optional(headerMap()),
  timeout: v.optional(duration()),
  threshold: v.optional(int()),
  backoff: v.optional(duration()),
  ignoredmediatypes: v.optional(strList()),
  ignore: v.optional(section({ mediatypes: v.optional(strList()), actions: v.optional(strList()) })),
});

const NotificationsSchema = section({
  events: v.optional(section({ includereferences: v.optional(bool(), false) })),
  endpoints: v.optional(v.array(EndpointSchema)),
});

const RedisSchema = section({
  addr: v.optional(str()),
  addrs: v.optional(strList()),
  username: v.optional(str()),
  password: v.optional(str()),
  db: v.optional(int()),
  dialtimeout: v.optional(duration()),
  readtimeout: v.optional(duration()),
  writetimeout: v.optional(duration()),
  poolsize: v.optional(int()),
  minidleconns: v.optional(int()),
  maxidleconns: v.optional(int()),
  pool: v.optional(
    section({
      maxidle: v.optional(int()),
      maxactive: v.optional(int()),
      idletimeout: v.optional(duration()),
    }),
  ),
  tls: v.optional(
    section({
      enabled: v.optional(bool()),
      certificate: v.optional(str()),
      key: v.optional(str()),
      clientcas: v.optional(strList()),
    }),
  ),
});

const HealthSchema = section({
  storagedriver: v.optional(
    section({
      enabled: v.optional(bool(), false),
      interval: v.optional(duration(), '10s'),
      threshold: v.optional(int(), 1),
    }),
  ),
  file: v.optional(v.array(section({ file: str(), interval: v.optional(duration(), '10s') }))),
  http: v.optional(
    v.array(
      section({
        uri: str(),
        headers: v.optional(headerMap()),
        statuscode: v.optional(int(), 200),
        timeout: v.optional(duration(), '5s'),
        interval: v.optional(duration(), '10s'),
        threshold: v.optional(int(), 1),
      }),
    ),
  ),
  tcp: v.optional(
    v.array(
      section({
        addr: str(),
        timeout: v.optional(duration(), '5s'),
        interval: v.optional(duration(), '10s'),
        threshold: v.optional(int(), 1),
      }),
    ),
  ),
});

const ProxySchema = section({
  remoteurl: str(),
  username: v.optional(str()),
  password: v.optional(str()),
  ttl: v.optional(duration()),
  exec: v.optional(section({ command: str(), lifetime: v.optional(duration()) })),
});

const ValidationSchema = section({
  enabled: v.optional(bool()),
  disabled: v.optional(bool(), false),
  manifests: v.optional(
    section({
      urls: v.optional(section({ allow: v.optional(strList()), deny: v.optional(strList()) })),
      indexes: v.optional(
        section({
          platforms: v.optional(v.picklist(['all', 'list', 'none'])),
          platformlist: v.optional(v.array(section({ architecture: str(), os: str() }))),
        }),
      ),
    }),
  ),
});

/**
 * Moves the deprecated top-level `loglevel` into `log.level` when the latter is unset, as distribution
 * does, and lets `storage`/`auth` be given as a bare type name.
 */
export function migrateDeprecated(raw: unknown): unknown {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const { loglevel, ...rest } = raw as Record<string, unknown>;
  if ('storage' in rest) rest['storage'] = normalizeSelector(rest['storage']);
  if ('auth' in rest) rest['auth'] = normalizeSelector(rest['auth']);
  if (loglevel !== undefined) {
    const log = rest['log'];
    const logObj = log !== null && typeof log === 'object' ? (log as Record<string, unknown>) : {};
    if (logObj['level'] === undefined) rest['log'] = { ...logObj, level: loglevel };
  }
  return rest;
}

export const ConfigSchema = preprocess(
  migrateDeprecated,
  v.object({
    version: v.pipe(
      str(),
      v.check((version) => version === '0.1', 'unsupported configuration version (expected "0.1")'),
    ),
    log: v.optional(LogSchema, {}),
    storage: StorageObject,
    auth: v.optional(AuthSchema),
    access: v.optional(AccessSchema),
    middleware: v.optional(
      section({
        registry: MiddlewareList(),
        repository: MiddlewareList(),
        storage: MiddlewareList(),
      }),
    ),
    http: v.optional(HttpSchema, {}),
    notifications: v.optional(NotificationsSchema),
    redis: v.optional(RedisSchema),
    health: v.optional(HealthSchema),
    proxy: v.optional(ProxySchema),
    validation: v.optional(ValidationSchema),
    compatibility: v.optional(
      section({
        schema1: v.optional(section({ signingkeyfile: v.optional(str()), enabled: v.optional(bool(), false) })),
      }),
    ),
    catalog: v.optional(section({ maxentries: v.optional(intAtLeast(1), 1000) })),
  }),
);

/** The effective configuration: distribution's config.yml with defaults applied and durations in ms. */
export type Config = v.InferOutput<typeof ConfigSchema>;

/** One problem the schema found: where, what it found, and what it expected. */
export type ConfigIssue = v.InferIssue<typeof ConfigSchema>;

/** Checks `input` against the schema: the configuration with defaults applied, or every problem found. */
export function checkConfig(input: unknown): { config: Config; issues?: never } | { issues: readonly ConfigIssue[] } {
  const result = v.safeParse(ConfigSchema, input);
  return result.success ? { config: result.output } : { issues: result.issues };
}
export type LogConfig = Config['log'];
