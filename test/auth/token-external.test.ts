/**
 * `auth.token` with an external token issuer that the test plays itself: tokens signed by a leaf
 * certificate issued by the test's own CA (sent as an `x5c` chain and checked against
 * `rootcertbundle`), by a certificate of the bundle named by its libtrust key id or RFC 7638
 * thumbprint, and by keys of a JWKS file; with the `signingalgorithms` allow-list enforced.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, type KeyObject, X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { exportJWK, SignJWT } from 'jose';
import { jwkThumbprint, libtrustKeyId } from '../../src/auth/keys.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createPki, type KeyPair, type Pki } from '../tls/pki.js';
import { capturingLogger, expectStatus, parseChallenge, pushWith, tempDir } from './support.js';

const SERVICE = 'registry.test';
const ISSUER = 'external-issuer';

interface Signer {
  key: KeyObject;
  cert: X509Certificate;
}

async function loadSigner(pair: KeyPair): Promise<Signer> {
  return {
    key: createPrivateKey(await readFile(pair.key)),
    cert: new X509Certificate(await readFile(pair.cert)),
  };
}

const der = (cert: X509Certificate) => cert.raw.toString('base64');

describe('auth.token with an external issuer', () => {
  let work: { dir: string; cleanup(): Promise<void> };
  let pki: Pki;
  let server: TestServer;
  let chainSigner: Signer;
  let intermediate: X509Certificate;
  let direct: Signer;
  let foreign: Signer;
  let rsa: { privateKey: KeyObject; publicKey: KeyObject };
  let ed: { privateKey: KeyObject; publicKey: KeyObject };
  let log: ReturnType<typeof capturingLogger>;

  before(async () => {
    work = await tempDir('berth-token-ext-');
    pki = await createPki(join(work.dir, 'pki'));
    // A token-signing leaf under the intermediate, so its chain is leaf → intermediate → root.
    chainSigner = await loadSigner(await pki.issueClient('token-signer', pki.intermediate));
    intermediate = new X509Certificate(await readFile(pki.intermediate.cert));
    // A self-signed certificate placed directly in the bundle, as many token setups do.
    const directPair = await pki.issueCa('direct-signer');
    direct = await loadSigner(directPair);
    // A chain from a CA the registry does not trust.
    const foreignCa = await pki.issueCa('foreign-ca');
    foreign = await loadSigner(await pki.issueClient('foreign-signer', foreignCa));

    const bundle = join(work.dir, 'bundle.pem');
    await writeFile(bundle, `${await readFile(pki.root.cert, 'utf8')}${await readFile(directPair.cert, 'utf8')}`);
    rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    ed = generateKeyPairSync('ed25519');
    const jwks = join(work.dir, 'jwks.json');
    await writeFile(
      jwks,
      JSON.stringify({
        keys: [
          { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
          { ...(await exportJWK(ed.publicKey)), kid: 'ed-1', use: 'sig' },
        ],
      }),
    );
    log = capturingLogger();
    server = await startTestServer(
      {
        auth: {
          token: {
            realm: 'https://auth.example.test/token',
            service: SERVICE,
            issuer: ISSUER,
            rootcertbundle: bundle,
            jwks,
            signingalgorithms: ['ES256', 'RS256'],
          },
        },
      },
      { logger: log.logger },
    );
  });
  after(async () => {
    await server?.close();
    await work.cleanup();
  });

  const access = (name: string, actions: string[]) => [{ type: 'repository', name, actions }];

  function token(
    key: KeyObject,
    alg: string,
    header: Record<string, unknown>,
    claims: Array<{ type: string; name: string; actions: string[] }>,
  ): Promise<string> {
    return new SignJWT({ access: claims })
      .setProtectedHeader({ alg, ...header })
      .setIssuer(ISSUER)
      .setAudience([SERVICE, 'other-audience'])
      .setSubject('ci-bot')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(key);
  }

  async function status(tokenValue: string, name = 'ext/app'): Promise<Response> {
    return fetch(`${server.url}/v2/${name}/tags/list`, { headers: { Authorization: `Bearer ${tokenValue}` } });
  }

  test('the challenge names the configured realm and service', async () => {
    const res = await fetch(`${server.url}/v2/ext/app/tags/list`);
    await expectStatus(res, 401, 'no token');
    assert.deepEqual(parseChallenge(res.headers.get('www-authenticate')).params, {
      realm: 'https://auth.example.test/token',
      service: SERVICE,
      scope: 'repository:ext/app:pull',
    });
  });

  test('an x5c chain to the root of the bundle is trusted; its access claim decides', async () => {
    const chain = [der(chainSigner.cert), der(intermediate)];
    const push = await token(chainSigner.key, 'ES256', { x5c: chain }, access('ext/app', ['pull', 'push']));
    await expectStatus(await pushWith(server.url, 'ext/app', 'v1', `Bearer ${push}`), 201, 'push with x5c token');
    await expectStatus(await status(push), 200, 'pull with x5c token');
    const other = await status(push, 'ext/other');
    await expectStatus(other, 401, 'another repository');
    assert.equal(parseChallenge(other.headers.get('www-authenticate')).params['error'], 'insufficient_scope');
  });

  test('chains that do not lead to the bundle are refused', async () => {
    const claims = access('ext/app', ['pull']);
    const foreignChain = await token(foreign.key, 'ES256', { x5c: [der(foreign.cert)] }, claims);
    await expectStatus(await status(foreignChain), 401, 'foreign CA');
    const missingIntermediate = await token(chainSigner.key, 'ES256', { x5c: [der(chainSigner.cert)] }, claims);
    await expectStatus(await status(missingIntermediate), 401, 'chain without its intermediate');
    // The right chain with the wrong key: the signature must come from the leaf.
    const wrongKey = await token(foreign.key, 'ES256', { x5c: [der(chainSigner.cert), der(intermediate)] }, claims);
    await expectStatus(await status(wrongKey), 401, 'leaf certificate, other key');
  });

  test('a certificate of the bundle is found by libtrust key id or by JWK thumbprint', async () => {
    const claims = access('ext/app', ['pull']);
    const byLibtrust = await token(direct.key, 'ES256', { kid: libtrustKeyId(direct.cert.publicKey) }, claims);
    await expectStatus(await status(byLibtrust), 200, 'libtrust kid');
    const byThumbprint = await token(direct.key, 'ES256', { kid: await jwkThumbprint(direct.cert.publicKey) }, claims);
    await expectStatus(await status(byThumbprint), 200, 'thumbprint kid');
    const embedded = await token(direct.key, 'ES256', { jwk: await exportJWK(direct.cert.publicKey) }, claims);
    await expectStatus(await status(embedded), 200, 'embedded jwk of a trusted key');
    const untrustedJwk = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const selfVouched = await token(
      untrustedJwk.privateKey,
      'ES256',
      { jwk: await exportJWK(untrustedJwk.publicKey) },
      claims,
    );
    await expectStatus(await status(selfVouched), 401, 'embedded jwk of an untrusted key');
    // The leaf of the chain is not itself in the bundle: its key id alone is not enough.
    const leafKid = await token(chainSigner.key, 'ES256', { kid: libtrustKeyId(chainSigner.cert.publicKey) }, claims);
    await expectStatus(await status(leafKid), 401, 'kid of a certificate outside the bundle');
  });

  test('JWKS keys are found by kid; signingalgorithms limits the algorithms', async () => {
    const claims = access('ext/app', ['pull']);
    await expectStatus(await status(await token(rsa.privateKey, 'RS256', { kid: 'rsa-1' }, claims)), 200, 'RS256 jwks');
    // Trusted through the JWKS, but EdDSA is not in the allow-list.
    await expectStatus(await status(await token(ed.privateKey, 'EdDSA', { kid: 'ed-1' }, claims)), 401, 'EdDSA');
    // RS384 is not allowed either, even with a trusted key.
    await expectStatus(await status(await token(rsa.privateKey, 'RS384', { kid: 'rsa-1' }, claims)), 401, 'RS384');
    const rogue = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await expectStatus(
      await status(await token(rogue.privateKey, 'RS256', { kid: 'rsa-1' }, claims)),
      401,
      'rogue key',
    );
    const reasons = log.lines.filter((l) => l['msg'] === 'authentication failed').map((l) => String(l['reason']));
    assert.ok(
      reasons.some((r) => /"alg" .* not allowed/.test(r)),
      JSON.stringify(reasons),
    );
  });

  test('without access rules a catalog token lists every repository, as in registry:2', async () => {
    const catalog = await token(direct.key, 'ES256', { kid: libtrustKeyId(direct.cert.publicKey) }, [
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
    const res = await fetch(`${server.url}/v2/_catalog`, { headers: { Authorization: `Bearer ${catalog}` } });
    assert.deepEqual(await expectStatus(res, 200, 'catalog'), { repositories: ['ext/app'] });
  });
});
