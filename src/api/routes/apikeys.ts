// /v1/apikeys: API keys managed over the API (the apikeys scope); a key can only hand out scopes it holds itself.

import type { Router } from 'express';
import { API_KEY_MAX_SECONDS, apiKeyJson, createApiKey } from '../../auth/api-keys.js';
import { authorizeRead, grantsOf, type AuthenticatedCaller } from '../../auth/caller.js';
import { parseScope } from '../../auth/scopes.js';
import { formatDuration, parseDuration } from '../../config/duration.js';
import { CaError } from '../../errors.js';
import { objectBody, optionalString, requiredString, stringArray } from '../body.js';
import type { ApiDeps } from '../ports.js';
import { guarded } from './guard.js';

/** The scopes `caller` may grant or take away: only those it holds (no key makes, or cuts off, a stronger one). */
function mayGrant(caller: AuthenticatedCaller, scopes: readonly string[], what = 'grant'): void {
  const held = new Set(grantsOf(caller)?.texts ?? []);
  const beyond = scopes.map((s) => parseScope(s).text).filter((s) => !held.has(s));
  if (beyond.length > 0) throw new CaError('ERR_FORBIDDEN', `auth: a key can only ${what} scopes it holds itself; this one does not hold ${beyond.join(', ')}`);
}

/** When the caller's own credential stops working: a key made over the API never outlives the one that made it. */
function callerExpiry(caller: AuthenticatedCaller): Date | undefined {
  if (caller.kind === 'apikey') {
    const r = caller.apiKey.record;
    return r.revokedAt !== null && r.revokedAt < r.expiresAt ? r.revokedAt : r.expiresAt;
  }
  return caller.kind === 'operator' ? caller.certificate.notAfter : undefined;
}

export function apiKeyRoutes(router: Router, deps: ApiDeps): void {
  router.get(
    '/v1/apikeys',
    guarded(deps, null, 'bearer', async (caller, _req, res) => {
      authorizeRead(caller, 'apikeys');
      const now = deps.clock.now();
      await deps.appendAudit({ at: now, actor: caller.actor, action: 'apikey-list', target: null, outcome: 'ok' });
      res.json({ apiKeys: (await deps.apiKeys.listApiKeys()).map((k) => apiKeyJson(k, now)) });
    }),
  );

  router.post(
    '/v1/apikeys',
    guarded(deps, null, 'bearer', async (caller, req, res) => {
      authorizeRead(caller, 'apikeys');
      const body = objectBody(req.body, ['name', 'scopes', 'expires']);
      const name = requiredString(body, 'name', 64);
      const scopes = stringArray(body, 'scopes', 32);
      const expires = optionalString(body, 'expires', 32);
      mayGrant(caller, scopes);
      const until = callerExpiry(caller);
      const left = until === undefined ? API_KEY_MAX_SECONDS : Math.floor((until.getTime() - deps.clock.now().getTime()) / 1000);
      const asked = expires === undefined ? undefined : parseDuration(expires);
      if (asked !== undefined && asked > left) throw new CaError('ERR_TTL_TOO_LONG', `auth: a key made over the API expires no later than the one that makes it (${until!.toISOString()}): ask for at most ${formatDuration(Math.max(0, left))}`);
      const { key, record } = await createApiKey(deps.apiKeys, deps.clock, { name, scopes, expiresInSeconds: asked ?? Math.min(API_KEY_MAX_SECONDS, left), actor: caller.actor });
      res.status(201).json({ key, ...apiKeyJson(record, deps.clock.now()) });
    }),
  );

  router.post(
    '/v1/apikeys/:name/revoke',
    guarded(deps, null, 'bearer', async (caller, req, res) => {
      authorizeRead(caller, 'apikeys');
      objectBody(req.body, [], true);
      const name = String(req.params.name);
      const now = deps.clock.now();
      const target = (await deps.apiKeys.listApiKeys()).find((k) => k.name === name && (k.revokedAt === null || k.revokedAt > now));
      if (target) mayGrant(caller, target.scopes, 'revoke keys with');
      const revoked = await deps.apiKeys.revokeApiKey(name, now, { at: now, actor: caller.actor, action: 'apikey-revoke', target: `apikey:${name}`, outcome: 'ok' });
      if (!revoked) throw new CaError('ERR_APIKEY_NOT_FOUND', `api: no active API key is named "${name.slice(0, 64)}"`);
      res.json(apiKeyJson(revoked, now));
    }),
  );
}
