// GET /v1/audit: the audit log, for API keys with the audit scope.

import type { Router } from 'express';
import { authorizeRead } from '../../auth/caller.js';
import type { ApiDeps } from '../ports.js';
import { guarded } from './guard.js';

export function auditRoutes(router: Router, deps: ApiDeps): void {
  router.get(
    '/v1/audit',
    guarded(deps, null, 'bearer', (caller, _req, res) => {
      authorizeRead(caller, 'audit');
      deps.appendAudit({ at: deps.clock.now(), actor: caller.actor, action: 'audit-read', target: null, outcome: 'ok' });
      res.json({ events: deps.readAuditLog().map((e) => ({ ...e, at: e.at.toISOString() })) });
    }),
  );
}
