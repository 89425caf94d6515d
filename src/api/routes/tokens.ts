// POST /v1/tokens: an enrollment token for a service's first certificate, for identities the caller's issue: scopes cover.

import type { Router } from 'express';
import { createEnrollmentToken, enrollmentGrant, TOKEN_DEFAULT_SECONDS } from '../../auth/enrollment-token.js';
import { grantsOf } from '../../auth/caller.js';
import { identitiesOf, scopesAllowIdentity } from '../../auth/scopes.js';
import { parseDuration } from '../../config/duration.js';
import { CaError } from '../../errors.js';
import { objectBody, optionalString, requiredString, stringArray } from '../body.js';
import type { ApiDeps } from '../ports.js';
import { guarded } from './guard.js';

export function tokenRoutes(router: Router, deps: ApiDeps): void {
  router.post(
    '/v1/tokens',
    guarded(deps, null, 'bearer', async (caller, req, res) => {
      const grants = grantsOf(caller);
      if (!grants) throw new CaError('ERR_FORBIDDEN', 'auth: enrollment tokens are made with an API key (or an operator certificate) holding issue: scopes');
      const body = objectBody(req.body, ['name', 'spiffeId', 'dnsNames', 'ipAddresses', 'ttl', 'certTtl']);
      const ttl = optionalString(body, 'ttl', 32);
      const certTtl = optionalString(body, 'certTtl', 32);
      const policy = deps.authority.policy;
      const grant = enrollmentGrant(
        { trustDomain: policy.trustDomain, allowWildcards: policy.allowWildcards, defaultTtlSeconds: policy.defaultTtlSeconds, maxTtlSeconds: policy.maxTtlSeconds },
        { name: requiredString(body, 'name', 64), spiffeId: optionalString(body, 'spiffeId', 2048), dnsNames: body.dnsNames === undefined ? [] : stringArray(body, 'dnsNames', 100), ipAddresses: body.ipAddresses === undefined ? [] : stringArray(body, 'ipAddresses', 100), certTtlSeconds: certTtl === undefined ? undefined : parseDuration(certTtl) },
      );
      // A token grants what the key could have asked for itself: every identity under one of its issue: scopes.
      const denied = identitiesOf({ spiffeId: grant.spiffeId ?? null, dnsNames: grant.dnsNames, ipAddresses: grant.ipAddresses }).filter((i) => !scopesAllowIdentity(grants.scopes, i));
      if (denied.length > 0) throw new CaError('ERR_FORBIDDEN', `auth: ${grants.name} may not grant ${denied.map((d) => d.value).join(', ')}`);
      const minted = await createEnrollmentToken(deps.tokenKey, deps.clock, policy.trustDomain, grant, ttl === undefined ? TOKEN_DEFAULT_SECONDS : parseDuration(ttl));
      await deps.appendAudit({ at: deps.clock.now(), actor: caller.actor, action: 'token-create', target: `token:${minted.jti}`, outcome: 'ok', detail: { name: grant.name, spiffeId: grant.spiffeId, dnsNames: grant.dnsNames, ipAddresses: grant.ipAddresses, expiresAt: minted.expiresAt.toISOString() } });
      res.status(201).json({ token: minted.token, jti: minted.jti, expiresAt: minted.expiresAt.toISOString() });
    }),
  );
}
