// GET /v1/audit and /v1/audit/verify: the audit log a page at a time, filtered, and its chain checked (the audit scope).

import type { Router } from 'express';
import { authorizeRead } from '../../auth/caller.js';
import type { AuditRecord } from '../../authority/ports.js';
import { CaError } from '../../errors.js';
import type { ApiDeps } from '../ports.js';
import { queryInteger, queryString } from '../query.js';
import { guarded } from './guard.js';

/** Rows one filtered request reads at most before it answers with what it found and where to go on. */
const SCAN_LIMIT = 50_000;
const OUTCOMES = ['ok', 'refused', 'noop'];

function instant(text: string | undefined, name: string): Date | undefined {
  if (text === undefined) return undefined;
  const d = new Date(text);
  // A real calendar date (no 30 February rolled into March) in the full ISO form, with its zone.
  const exact = /^(\d{4}-\d\d-\d\d)(T\d\d:\d\d(:\d\d(\.\d{1,3})?)?(Z|[+-]\d\d:\d\d))?$/.exec(text);
  const day = exact ? new Date(`${exact[1]}T00:00:00Z`) : undefined;
  if (!exact || Number.isNaN(d.getTime()) || !day || Number.isNaN(day.getTime()) || day.toISOString().slice(0, 10) !== exact[1]) {
    throw new CaError('ERR_QUERY_INVALID', `api: "${name}" must be an ISO 8601 date or time (2026-12-06 or 2026-12-06T09:00:00Z)`);
  }
  return d;
}

export function auditRoutes(router: Router, deps: ApiDeps): void {
  // One walk of the chain at a time: callers asking meanwhile get that walk's verdict.
  let verifying: ReturnType<NonNullable<ApiDeps['verifyAuditChain']>> | undefined;
  router.get(
    '/v1/audit',
    guarded(deps, null, 'bearer', async (caller, req, res) => {
      authorizeRead(caller, 'audit');
      const limit = queryInteger(req.query.limit, 'limit', 1, 10_000, 1000);
      // Oldest first after `after` (the default), or newest first (`order=desc`) below `before`.
      const order = queryString(req.query.order, 'order') ?? 'asc';
      if (order !== 'asc' && order !== 'desc') throw new CaError('ERR_QUERY_INVALID', 'api: "order" is asc (oldest first) or desc (newest first)');
      const after = queryInteger(req.query.after, 'after', 0, Number.MAX_SAFE_INTEGER, 0);
      const before = queryInteger(req.query.before, 'before', 1, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
      if (order === 'asc' && req.query.before !== undefined) throw new CaError('ERR_QUERY_INVALID', 'api: "before" pages a newest-first listing (order=desc)');
      if (order === 'desc' && req.query.after !== undefined) throw new CaError('ERR_QUERY_INVALID', 'api: "after" pages an oldest-first listing');
      const actor = queryString(req.query.actor, 'actor');
      const action = queryString(req.query.action, 'action');
      const target = queryString(req.query.target, 'target');
      const outcome = queryString(req.query.outcome, 'outcome');
      if (outcome !== undefined && !OUTCOMES.includes(outcome)) throw new CaError('ERR_QUERY_INVALID', `api: "outcome" is ${OUTCOMES.join(', ')}`);
      const since = instant(queryString(req.query.since, 'since'), 'since');
      const until = instant(queryString(req.query.until, 'until'), 'until');
      const filtered = actor !== undefined || action !== undefined || target !== undefined || outcome !== undefined || since !== undefined || until !== undefined;
      await deps.appendAudit({ at: deps.clock.now(), actor: caller.actor, action: 'audit-read', target: null, outcome: 'ok', detail: { order, ...(order === 'asc' ? { after } : { before }), limit, ...(filtered ? { actor, action, target, outcome } : {}) } });
      const read = (cursor: number, n: number) => deps.readAuditLog(order === 'asc' ? { limit: n, after: cursor } : { limit: n, before: cursor });
      // Filters (exact actor, action, target and outcome; a time range) are applied page by page; a request reads
      // at most SCAN_LIMIT rows and says where to go on (`next`: the cursor for after/before).
      const matches = (e: AuditRecord) => (actor === undefined || e.actor === actor) && (action === undefined || e.action === action) && (target === undefined || e.target === target) && (outcome === undefined || e.outcome === outcome) && (since === undefined || e.at >= since) && (until === undefined || e.at <= until);
      const events: AuditRecord[] = [];
      let cursor = order === 'asc' ? after : before;
      let scanned = 0;
      let more = true;
      const pageSize = filtered ? 1000 : limit + 1;
      while (events.length < limit && scanned < SCAN_LIMIT) {
        const page = await read(cursor, pageSize);
        let taken = 0;
        for (const e of page) {
          if (events.length >= limit) break;
          cursor = e.id;
          taken++;
          if (matches(e)) events.push(e);
        }
        scanned += taken;
        // The end of the log: more only if this page was left before its end.
        if (page.length < pageSize) {
          more = taken < page.length;
          break;
        }
      }
      res.json({ events: events.map((e) => ({ ...e, at: e.at.toISOString() })), next: more ? cursor : null });
    }),
  );

  router.get(
    '/v1/audit/verify',
    guarded(deps, null, 'bearer', async (caller, _req, res) => {
      authorizeRead(caller, 'audit');
      if (!deps.verifyAuditChain) throw new CaError('ERR_NOT_FOUND', 'api: this service does not verify the audit chain');
      verifying ??= deps.verifyAuditChain().finally(() => (verifying = undefined));
      const verdict = await verifying;
      await deps.appendAudit({ at: deps.clock.now(), actor: caller.actor, action: 'audit-verify', target: null, outcome: 'ok', detail: { ok: verdict.ok, rows: verdict.rows } });
      res.json(verdict);
    }),
  );
}
