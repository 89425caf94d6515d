// GET /v1/whoami and /v1/overview: who a key is and what it may do, and the fleet at a glance (the dashboard's first page).

import type { Router } from 'express';
import { authorizeRead } from '../../auth/caller.js';
import { fleetOverview } from '../../authority/overview.js';
import { caServiceSpiffeId } from '../../identity/reserved.js';
import { CaError } from '../../errors.js';
import type { ApiDeps } from '../ports.js';
import { guarded } from './guard.js';

/** How long one overview is reused: its counts cost a few dozen index reads, and many dashboards may be open. */
const OVERVIEW_SECONDS = 5;

export function overviewRoutes(router: Router, deps: ApiDeps): void {
  let cached: { until: number; overview: Promise<Awaited<ReturnType<typeof fleetOverview>>> } | undefined;
  router.get(
    '/v1/whoami',
    guarded(deps, null, 'bearer', async (caller, _req, res) => {
      if (caller.kind === 'apikey') {
        const r = caller.apiKey.record;
        res.json({ kind: 'apikey', actor: caller.actor, name: r.name, scopes: [...r.scopes], expiresAt: r.expiresAt.toISOString(), trustDomain: deps.authority.trustDomain });
      } else if (caller.kind === 'operator') {
        res.json({ kind: 'operator', actor: caller.actor, name: caller.certificate.spiffeId, scopes: [...caller.scopeTexts], expiresAt: caller.certificate.notAfter.toISOString(), trustDomain: deps.authority.trustDomain });
      } else throw new CaError('ERR_FORBIDDEN', 'auth: /v1/whoami describes API keys and operator certificates');
    }),
  );

  router.get(
    '/v1/overview',
    guarded(deps, null, 'bearer', async (caller, _req, res) => {
      authorizeRead(caller, 'list');
      const now = deps.clock.now();
      if (!cached || cached.until <= now.getTime()) {
        const overview = fleetOverview(deps.authority, { now, excludeSpiffeId: caServiceSpiffeId(deps.authority.trustDomain) });
        cached = { until: now.getTime() + OVERVIEW_SECONDS * 1000, overview };
        overview.catch(() => (cached = undefined));
      }
      const overview = await cached.overview;
      const signers = (deps.ocspSigners?.() ?? []).map((s) => ({ issuerKeyId: s.issuerKeyId, serial: s.serial, notAfter: s.notAfter.toISOString() }));
      await deps.appendAudit({ at: now, actor: caller.actor, action: 'overview', target: null, outcome: 'ok' });
      res.json({ at: now.toISOString(), ...overview, ocspSigners: signers, activity: { minutes: 60, ...deps.metrics.lastHour() } });
    }),
  );
}
