// /v1/certificates and /v1/revocations: the inventory (API key with list) and revocation (API key with revoke, or the certificate's holder for its own).

import type { Router } from 'express';
import { authorizeMassRevoke, authorizeRead, authorizeRevoke } from '../../auth/caller.js';
import { parseDuration } from '../../config/duration.js';
import { normalizeSerial } from '../../crypto/serial.js';
import { CaError } from '../../errors.js';
import { parseRevocationReason } from '../../revocation/reasons.js';
import { objectBody, optionalString } from '../body.js';
import type { ApiDeps } from '../ports.js';
import { recordResponse } from '../responses.js';
import { massRevocationJson } from '../../authority/mass-revocation.js';
import { guarded } from './guard.js';
import { queryInteger, queryString } from '../query.js';
import { caServiceSpiffeId } from '../../identity/reserved.js';
import { identitiesOf, identityQuery, parseIdentityFilter } from '../../auth/scopes.js';

const STATUSES = ['valid', 'revoked', 'expired'] as const;
/** Certificates one identity-filtered listing reads at most (a few tens of milliseconds here). */
const MAX_SCAN = 2_000;

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
      const order = queryString(req.query.order, 'order') ?? 'asc';
      if (order !== 'asc' && order !== 'desc') throw new CaError('ERR_QUERY_INVALID', 'api: "order" is asc (soonest notAfter first) or desc');
      // Paging: `after` is the serial the previous page ended with (its `next`).
      const afterText = queryString(req.query.after, 'after');
      const afterRecord = afterText === undefined ? undefined : await deps.authority.find(serialParam(afterText));
      if (afterText !== undefined && !afterRecord) throw new CaError('ERR_QUERY_INVALID', 'api: "after" names no certificate (give the "next" of the previous page)');
      const query = { status: status as (typeof STATUSES)[number] | undefined, expiringWithinSeconds: within === undefined ? undefined : parseDuration(within), descending: order === 'desc', ...(all === 'true' ? {} : { excludeSpiffeId: service }), ...(afterRecord ? { after: { notAfter: afterRecord.notAfter, serial: afterRecord.serial } } : {}) };
      // With an identity filter the limit applies to what matches: the database narrows by the pattern's literal
      // text, the pattern decides, page by page.
      // A pattern the database cannot narrow is matched here, reading at most MAX_SCAN certificates per request: past
      // that, the page ends early and `next` says where the search goes on.
      const { records, resumeAfter } = pattern === undefined ? { records: await deps.authority.list({ ...query, limit }), resumeAfter: undefined } : await deps.authority.listMatchingPage(identityQuery(query, pattern), (r) => identitiesOf(r).some((i) => pattern.matches(i)), limit, MAX_SCAN);
      await deps.appendAudit({ at: deps.clock.now(), actor: caller.actor, action: 'list', target: null, outcome: 'ok', detail: { count: records.length } });
      const now = deps.clock.now();
      const renewedTo = await deps.authority.renewedTo(records);
      res.json({ certificates: records.map((r) => ({ ...(r.spiffeId === service ? { caService: true } : {}), ...recordResponse(r, now, renewedTo.get(r.serial) ?? []) })), next: resumeAfter ? resumeAfter.serial : records.length === limit ? records.at(-1)!.serial : null });
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
      const renewedTo = await deps.authority.renewedTo([record]);
      // A revoked certificate's CRL: the one its issuer publishes now, once it was signed after the revocation.
      const crl = record.revokedAt === null ? undefined : (await deps.authority.publishedCrls()).find((c) => c.issuerKeyId === record.issuerKeyId && c.thisUpdate >= record.revokedAt!);
      res.json({
        ...recordResponse(record, deps.clock.now(), renewedTo.get(record.serial) ?? [], true),
        chain: deps.authority.chainFor(record),
        issuerKeyId: record.issuerKeyId,
        ...(record.revokedAt === null ? {} : { crl: crl ? { number: crl.number.toString(), thisUpdate: crl.thisUpdate.toISOString(), nextUpdate: crl.nextUpdate.toISOString() } : null }),
      });
    }),
  );

  router.post(
    '/v1/revocations',
    guarded(deps, null, 'bearer', async (caller, req, res) => {
      authorizeMassRevoke(caller);
      const body = objectBody(req.body, ['lineage', 'identity', 'reason', 'dryRun']);
      const lineage = optionalString(body, 'lineage', 128);
      const identity = optionalString(body, 'identity', 2048);
      if ((lineage === undefined) === (identity === undefined)) throw new CaError('ERR_BODY_INVALID', 'api: give exactly one of "lineage" (a serial) or "identity" (a pattern)');
      const dryRun = body.dryRun ?? false;
      if (typeof dryRun !== 'boolean') throw new CaError('ERR_BODY_INVALID', 'api: "dryRun" must be true or false');
      const reason = parseRevocationReason(optionalString(body, 'reason', 64) ?? 'unspecified');
      const outcome = lineage !== undefined
        ? await deps.authority.revokeLineage(serialParam(lineage), reason, caller, { dryRun })
        : await deps.authority.revokeIdentity(identity!, reason, caller, { dryRun });
      // A dry run is a read: audited here, as the inventory's reads are (a real run audits each revoked serial).
      if (dryRun) await deps.appendAudit({ at: deps.clock.now(), actor: caller.actor, action: 'revoke-dry-run', target: 'lineage' in outcome.selector ? outcome.selector.lineage : null, outcome: 'ok', detail: { reason, ...outcome.selector, wouldRevoke: outcome.revoked.length } });
      res.json(massRevocationJson(outcome));
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
