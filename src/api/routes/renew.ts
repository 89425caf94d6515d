// POST /v1/renew: the holder of a current certificate (proved by mTLS) gets a new one with exactly the same identities.

import type { Router } from 'express';
import { CaError } from '../../errors.js';
import { csrDer } from '../../pki/csr.js';
import { objectBody, optionalString } from '../body.js';
import type { ApiDeps } from '../ports.js';
import { leafResponse } from '../responses.js';
import { guarded, type RateLimiter } from './guard.js';

export function renewRoutes(router: Router, deps: ApiDeps, limit: RateLimiter): void {
  router.post(
    '/v1/renew',
    guarded(deps, limit, 'certificate', async (caller, req, res) => {
      if (caller.kind !== 'certificate') throw new CaError('ERR_UNAUTHENTICATED', 'api: renewal takes the current certificate (mTLS) and nothing else');
      const body = objectBody(req.body, ['csr'], true);
      const csr = optionalString(body, 'csr', 64 * 1024);
      const leaf = await deps.authority.renewGrouped(caller.certificate.der, csr === undefined ? undefined : { csr: csrDer(Buffer.from(csr, 'latin1')) }, caller);
      deps.metrics.issued('renew');
      res.status(201).json({ ...leafResponse(leaf, deps.authority.chainFor(leaf)), renewed: caller.certificate.serial });
    }),
  );
}
