// Renewal windows (RFC 9773 ARI): GET /v1/certificates/:serial/renewal-info (public, like OCSP) and POST /v1/renewal-advice (scope revoke).

import type { Request, Response, Router } from 'express';
import { authorizeRenewNow } from '../../auth/caller.js';
import { ADVICE_WITHIN_DEFAULT_SECONDS, adviceJson, parseIssuedBefore, type AdviceSelector } from '../../authority/renewal-advice.js';
import { parseDuration } from '../../config/duration.js';
import { CaError } from '../../errors.js';
import { objectBody, optionalString } from '../body.js';
import type { ApiDeps } from '../ports.js';
import { guarded, perSecondLimiter } from './guard.js';

const SELECTORS = ['serial', 'identity', 'issuedBefore', 'all'] as const;

/** The one selector a renewal-advice body names. */
function selectorOf(body: Record<string, unknown>): AdviceSelector {
  const given = SELECTORS.filter((k) => body[k] !== undefined && body[k] !== null);
  if (given.length !== 1) throw new CaError('ERR_BODY_INVALID', `api: give exactly one of "serial", "identity", "issuedBefore" or "all": true (got ${given.length === 0 ? 'none' : given.map((k) => `"${k}"`).join(', ')})`);
  switch (given[0]!) {
    case 'serial':
      return { kind: 'serial', serial: optionalString(body, 'serial', 128)! };
    case 'identity':
      return { kind: 'identity', pattern: optionalString(body, 'identity', 2048)! };
    case 'issuedBefore':
      return { kind: 'issued-before', before: parseIssuedBefore(optionalString(body, 'issuedBefore', 64)!) };
    case 'all':
      if (body.all !== true) throw new CaError('ERR_BODY_INVALID', 'api: "all" must be true');
      return { kind: 'all' };
  }
}

export function renewalAdviceRoutes(router: Router, deps: ApiDeps): void {
  // Unauthenticated reads are limited per client address, generously: a fleet behind one NAT polls from one address.
  const perAddress = perSecondLimiter(deps.rateLimitPerSecond * 10);
  router.get('/v1/certificates/:serial/renewal-info', async (req: Request, res: Response) => {
    if (!perAddress.take(`ip:${req.socket.remoteAddress}`)) throw new CaError('ERR_RATE_LIMITED', 'api: too many renewal-info requests from this address; retry in a second');
    const info = await deps.authority.renewalInfo(String(req.params.serial));
    res.set({ 'retry-after': String(info.retryAfterSeconds), 'cache-control': 'no-store' });
    res.json({
      suggestedWindow: { start: info.window.start.toISOString(), end: info.window.end.toISOString() },
      ...(info.window.explanationUrl === null ? {} : { explanationURL: info.window.explanationUrl }),
    });
  });

  router.post(
    '/v1/renewal-advice',
    guarded(deps, null, 'bearer', async (caller, req, res) => {
      authorizeRenewNow(caller);
      const body = objectBody(req.body, [...SELECTORS, 'within', 'explanationUrl']);
      const selector = selectorOf(body);
      const within = optionalString(body, 'within', 32);
      const explanationUrl = optionalString(body, 'explanationUrl', 2048);
      res.json(adviceJson(await deps.authority.adviseRenewal(selector, within === undefined ? ADVICE_WITHIN_DEFAULT_SECONDS : parseDuration(within), caller, explanationUrl)));
    }),
  );
}
