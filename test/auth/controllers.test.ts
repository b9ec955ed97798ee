/** Runs the AccessController contract against htpasswd (with rules), token and silly controllers. */
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { after } from 'node:test';
import { SignJWT } from 'jose';
import { pino } from 'pino';
import { createBasicController } from '../../src/auth/basic.js';
import { createFailureTracker } from '../../src/auth/failures.js';
import { createHtpasswdStore } from '../../src/auth/htpasswd.js';
import { libtrustKeyId } from '../../src/auth/keys.js';
import { compileAccessPolicy } from '../../src/auth/rules.js';
import { createSillyController } from '../../src/auth/silly.js';
import { createTokenController } from '../../src/auth/token.js';
import { createTokenVerifier } from '../../src/auth/token-verify.js';
import { accessControllerContract } from './controller-contract.js';
import { basic, tempDir, writeHtpasswd } from './support.js';

const logger = pino({ level: 'silent' });
const failures = createFailureTracker({ logger });
const policy = compileAccessPolicy({ rules: [{ repositories: ['team/app'], actions: ['pull'], users: ['carol'] }] });
const work = await tempDir('berth-contract-');
after(() => work.cleanup());

accessControllerContract('htpasswd with access rules', async () => {
  const path = join(work.dir, 'htpasswd');
  await writeHtpasswd(path, { carol: 'c-pw' });
  return {
    controller: createBasicController({
      realm: 'contract',
      users: await createHtpasswdStore({ path, logger }),
      policy,
      failures,
    }),
    pullOnly: basic('carol', 'c-pw'),
    user: 'carol',
    invalid: basic('carol', 'wrong'),
    scheme: 'Basic',
    realm: 'contract',
    enforcesAccess: true,
  };
});

accessControllerContract('token', async () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = libtrustKeyId(publicKey);
  const verifier = await createTokenVerifier({
    issuer: 'issuer',
    service: 'service',
    roots: [],
    keys: [{ kid, key: publicKey }],
  });
  const token = await new SignJWT({ access: [{ type: 'repository', name: 'team/app', actions: ['pull'] }] })
    .setProtectedHeader({ alg: 'ES256', kid })
    .setIssuer('issuer')
    .setAudience('service')
    .setSubject('carol')
    .setExpirationTime('5m')
    .sign(privateKey);
  return {
    controller: createTokenController({ realm: 'https://auth.test/token', service: 'service', verifier, failures }),
    pullOnly: `Bearer ${token}`,
    user: 'carol',
    invalid: 'Bearer not.a.token',
    scheme: 'Bearer',
    realm: 'https://auth.test/token',
    enforcesAccess: true,
  };
});

accessControllerContract('silly', async () => ({
  controller: createSillyController({ realm: 'https://auth.test/silly', service: 'service' }),
  pullOnly: 'Bearer anything',
  user: undefined,
  invalid: undefined,
  scheme: 'Bearer',
  realm: 'https://auth.test/silly',
  enforcesAccess: false,
}));
