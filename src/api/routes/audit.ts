// GET /v1/audit: the audit log, a page at a time, for API keys with the audit scope.

import type { Router } from 'express';
import { authorizeRead } from '../../auth/caller.js';
import type { ApiDeps } from '../ports.js';
import { queryInteger } from '../query.js';
import { guarded } from './guard.js';

export function auditRoutes(router: Router, deps: ApiDeps): void {
  router.get(
    '/v1/audit',
    guarded(deps, null, 'bearer', async (caller, req, res) => {
      authorizeRead(caller, 'audit');
      const limit = queryInteger(req.query.limit, 'limit', 1, 10_000, 1000);
      const after = queryInteger(req.query.after, 'after', 0, Number.MAX_SAFE_INTEGER, 0);
      await deps.appendAudit({ at: deps.clock.now(), actor: caller.actor, action: 'audit-read', target: null, outcome: 'ok', detail: { after, limit } });
      // One row more than asked says whether another page follows.
      const rows = await deps.readAuditLog({ limit: limit + 1, after });
      const events = rows.slice(0, limit);
      res.json({ events: events.map((e) => ({ ...e, at: e.at.toISOString() })), next: rows.length > limit ? events.at(-1)!.id : null });
    }),
  );
}
