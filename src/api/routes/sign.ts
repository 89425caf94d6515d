// POST /v1/sign: a leaf for a CSR, authorized by an enrollment token (single use) or an API key's issue scope.

import type { Router } from 'express';
import { authorizeSign } from '../../auth/caller.js';
import { parseDuration } from '../../config/duration.js';
import { csrDer } from '../../pki/csr.js';
import { objectBody, optionalString, requiredString, stringArray } from '../body.js';
import type { ApiDeps } from '../ports.js';
import { leafResponse } from '../responses.js';
import { guarded, type RateLimiter } from './guard.js';

export function signRoutes(router: Router, deps: ApiDeps, limit: RateLimiter): void {
  router.post(
    '/v1/sign',
    guarded(deps, limit, 'bearer', async (caller, req, res) => {
      const body = objectBody(req.body, ['csr', 'name', 'spiffeId', 'dnsNames', 'ipAddresses', 'ttl']);
      const csr = csrDer(Buffer.from(requiredString(body, 'csr', 64 * 1024), 'latin1'));
      const ttl = optionalString(body, 'ttl', 32);
      const asked = {
        commonName: optionalString(body, 'name', 64) ?? (caller.kind === 'token' ? caller.token.name : requiredString(body, 'name', 64)),
        spiffeId: optionalString(body, 'spiffeId', 2048),
        dnsNames: stringArray(body, 'dnsNames'),
        ipAddresses: stringArray(body, 'ipAddresses'),
        ttlSeconds: ttl === undefined ? undefined : parseDuration(ttl),
      };
      const request = authorizeSign(caller, asked, deps.authority.policy);
      const leaf = await deps.authority.issueGrouped(
        { ...request, key: { csr } },
        caller,
        caller.kind === 'token' ? { spendToken: { jti: caller.token.jti, expiresAt: caller.token.expiresAt } } : {},
      );
      deps.metrics.issued('issue');
      res.status(201).json(leafResponse(leaf, deps.authority.chainFor(leaf)));
    }),
  );
}
