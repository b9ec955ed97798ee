/**
 * The contract every AccessController keeps, as one shared suite: what happens without
 * credentials, with good ones, with good ones lacking access, and with malformed ones. Each
 * implementation's test calls it with a factory and credentials made for it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApiError } from '../../src/api/errors.js';
import { type Access, type AccessController, AccessDeniedError, ChallengeError } from '../../src/auth/access.js';

export interface ControllerHarness {
  controller: AccessController;
  /** An Authorization header for a caller who may pull `team/app` and nothing else. */
  pullOnly: string;
  /** The user name that caller is reported as (undefined when the scheme has no identity). */
  user: string | undefined;
  /** A header the scheme must refuse; undefined when it accepts anything (auth.silly). */
  invalid: string | undefined;
  /** The challenge scheme, `Basic` or `Bearer`. */
  scheme: string;
  /** The realm the challenge names. */
  realm: string;
  /** Whether the scheme can refuse a known caller (false for auth.silly). */
  enforcesAccess: boolean;
}

const PULL: Access = { type: 'repository', name: 'team/app', action: 'pull' };
const PUSH: Access = { type: 'repository', name: 'team/app', action: 'push' };

const request = (authorization: string | undefined) => ({
  authorization,
  remoteAddress: '192.0.2.1',
  origin: 'http://registry.test',
});

function assertChallenge(error: unknown, harness: ControllerHarness): true {
  assert.ok(error instanceof ChallengeError, `expected a ChallengeError, got ${String(error)}`);
  assert.equal(error.status, 401);
  const header = error.headers['WWW-Authenticate'] ?? '';
  assert.ok(header.startsWith(`${harness.scheme} `), header);
  assert.ok(header.includes(`realm="${harness.realm}"`), header);
  return true;
}

export function accessControllerContract(name: string, create: () => Promise<ControllerHarness>): void {
  describe(`AccessController contract: ${name}`, () => {
    test('no credentials: a 401 challenge, for /v2/ (nothing wanted) too', async () => {
      const harness = await create();
      for (const wanted of [[PULL], []]) {
        await assert.rejects(harness.controller.authorize(request(undefined), wanted), (e) =>
          assertChallenge(e, harness),
        );
      }
    });

    test('good credentials: a grant naming the user, holding the access', async () => {
      const harness = await create();
      const grant = await harness.controller.authorize(request(harness.pullOnly), [PULL]);
      assert.equal(grant.user, harness.user);
      assert.equal(grant.allows(PULL), true);
      assert.equal(typeof grant.canList('team/app'), 'boolean');
      const base = await harness.controller.authorize(request(harness.pullOnly), []);
      assert.equal(base.user, harness.user);
    });

    test('good credentials lacking the access: DENIED, as 403 or as a 401 insufficient-scope challenge', async (t) => {
      const harness = await create();
      if (!harness.enforcesAccess) {
        t.diagnostic('this scheme lets every credential through');
        const grant = await harness.controller.authorize(request(harness.pullOnly), [PULL, PUSH]);
        assert.equal(grant.allows(PUSH), true);
        return;
      }
      await assert.rejects(harness.controller.authorize(request(harness.pullOnly), [PULL, PUSH]), (error) => {
        assert.ok(error instanceof ApiError);
        assert.equal(error.wire, 'DENIED');
        if (error instanceof AccessDeniedError) assert.equal(error.status, 403);
        else assertChallenge(error, harness);
        return true;
      });
      const grant = await harness.controller.authorize(request(harness.pullOnly), [PULL]);
      assert.equal(grant.allows(PUSH), false);
    });

    test('malformed or wrong credentials: a 401 UNAUTHORIZED challenge', async () => {
      const harness = await create();
      if (harness.invalid === undefined) return;
      await assert.rejects(harness.controller.authorize(request(harness.invalid), [PULL]), (error) => {
        assertChallenge(error, harness);
        assert.equal((error as ChallengeError).wire, 'UNAUTHORIZED');
        return true;
      });
    });
  });
}
