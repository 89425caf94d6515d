// /v1/certificates: the inventory (API key with list) and revocation (API key with revoke, or the certificate's holder).

import type { Router } from 'express';
import { authorizeRead, authorizeRevoke } from '../../auth/caller.js';
import { parseDuration } from '../../config/duration.js';
import { normalizeSerial } from '../../crypto/serial.js';
import { CaError } from '../../errors.js';
import { parseRevocationReason } from '../../revocation/reasons.js';
import { objectBody, optionalString } from '../body.js';
import type { ApiDeps } from '../ports.js';
import { recordResponse } from '../responses.js';
import { guarded } from './guard.js';
import { queryInteger, queryString } from '../query.js';
import { caServiceSpiffeId } from '../../identity/reserved.js';
import { identitiesOf, identityQuery, parseIdentityFilter } from '../../auth/scopes.js';

const STATUSES = ['valid', 'revoked', 'expired'] as const;

function serialParam(text: unknown): string {
  const serial = typeof text === 'string' ? normalizeSerial(text) : null;
  if (serial === null) throw new CaError('ERR_BODY_INVALID', 'api: the serial must be hexadecimal');
  return serial;
}

export function certificateRoutes(router: Router, deps: ApiDeps): void {
  router.get(
    '/v1/certificates',
    guarded(deps, null, 'bearer', async (caller, req, res) => {
      authorizeRead(caller, 'list');
      const status = queryString(req.query.status, 'status');
      if (status !== undefined && !(STATUSES as readonly string[]).includes(status)) throw new CaError('ERR_QUERY_INVALID', `api: unknown status "${status}" (valid, revoked or expired)`);
      const within = queryString(req.query.expiringWithin, 'expiringWithin');
      const limit = queryInteger(req.query.limit, 'limit', 1, 10_000, 1000);
      const all = queryString(req.query.all, 'all');
      if (all !== undefined && all !== 'true' && all !== 'false') throw new CaError('ERR_QUERY_INVALID', 'api: "all" is true or false');
      const service = caServiceSpiffeId(deps.authority.trustDomain);
      const identityText = queryString(req.query.identity, 'identity');
      const pattern = identityText === undefined ? undefined : parseIdentityFilter(identityText);
      const query = { status: status as (typeof STATUSES)[number] | undefined, expiringWithinSeconds: within === undefined ? undefined : parseDuration(within), ...(all === 'true' ? {} : { excludeSpiffeId: service }) };
      // With an identity filter the limit applies to what matches: the database narrows by the pattern's literal
      // text, the pattern decides, page by page.
      const records = pattern === undefined ? await deps.authority.list({ ...query, limit }) : await deps.authority.listMatching(identityQuery(query, pattern), (r) => identitiesOf(r).some((i) => pattern.matches(i)), limit);
      await deps.appendAudit({ at: deps.clock.now(), actor: caller.actor, action: 'list', target: null, outcome: 'ok', detail: { count: records.length } });
      const now = deps.clock.now();
      res.json({ certificates: records.map((r) => ({ ...(r.spiffeId === service ? { caService: true } : {}), ...recordResponse(r, now) })) });
    }),
  );

  router.get(
    '/v1/certificates/:serial',
    guarded(deps, null, 'bearer', async (caller, req, res) => {
      authorizeRead(caller, 'list');
      const serial = serialParam(req.params.serial);
      const record = await deps.authority.find(serial);
      if (!record || record.kind !== 'leaf') throw new CaError('ERR_CERTIFICATE_NOT_FOUND', `api: no certificate with serial ${serial}`);
      await deps.appendAudit({ at: deps.clock.now(), actor: caller.actor, action: 'get', target: serial, outcome: 'ok' });
      res.json(recordResponse(record, deps.clock.now(), true));
    }),
  );

  router.post(
    '/v1/certificates/:serial/revoke',
    guarded(deps, null, 'any', async (caller, req, res) => {
      const serial = serialParam(req.params.serial);
      authorizeRevoke(caller, serial);
      const body = objectBody(req.body, ['reason'], true);
      const reason = parseRevocationReason(optionalString(body, 'reason', 64) ?? 'unspecified');
      const outcome = await deps.authority.revoke(serial, reason, caller);
      const r = outcome.record;
      res.json({ serial: r.serial, revokedAt: r.revokedAt!.toISOString(), reason: r.reason, alreadyRevoked: outcome.result === 'already-revoked', alsoRevoked: outcome.alsoRevoked, keyBlocked: outcome.keyBlocked });
    }),
  );
}
