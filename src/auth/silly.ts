/**
 * `auth.silly`, as in registry:2 and for testing only: any request carrying an `Authorization`
 * header passes, whatever it says; without one the answer is a Bearer challenge.
 */
import { type AccessController, ChallengeError, formatScope, grantAll, quoteParam } from './access.js';

export interface SillyOptions {
  /** `auth.silly.realm`. */
  realm: string;
  /** `auth.silly.service`. */
  service: string;
}

export function createSillyController(options: SillyOptions): AccessController {
  const base = `Bearer realm=${quoteParam(options.realm)},service=${quoteParam(options.service)}`;
  return {
    async authorize(request, wanted) {
      if (request.authorization !== undefined && request.authorization !== '') return grantAll(undefined);
      const scope = formatScope(wanted);
      throw new ChallengeError(scope === '' ? base : `${base},scope=${quoteParam(scope)}`, wanted);
    },
  };
}
