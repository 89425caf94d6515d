// The wrapper every authenticated route runs in: authenticate, rate-limit per caller, audit refusals, count metrics.

import type { Request, Response } from 'express';
import type { AuthenticatedCaller } from '../../auth/caller.js';
import { CaError } from '../../errors.js';
import { authenticate, claimedActor, type Accepts } from '../authenticate.js';
import { httpStatusFor } from '../errors.js';
import type { ApiDeps } from '../ports.js';

/** Decides whether a caller may make another rate-limited request now. */
export interface RateLimiter {
  take(key: string): boolean;
}

/**
 * A fixed one-second window per caller. Kept in-process: one `ca serve` owns its directory, so there is no
 * shared state to coordinate, and a map of counters costs less per request than any middleware.
 */
export function perSecondLimiter(limit: number, now: () => number = Date.now): RateLimiter {
  let window = 0;
  let counts = new Map<string, number>();
  return {
    take(key) {
      const second = Math.floor(now() / 1000);
      if (second !== window) {
        window = second;
        counts = new Map();
      }
      const n = (counts.get(key) ?? 0) + 1;
      counts.set(key, n);
      return n <= limit;
    },
  };
}

type Handler = (caller: AuthenticatedCaller, req: Request, res: Response) => void | Promise<void>;

/**
 * Runs `handler` for an authenticated caller; `limit` (sign and renew) throttles each caller separately. Every
 * refusal is counted in the audit log, aggregated per actor, action and reason (see auth/refusals.ts): a refused
 * authentication under the actor the request claimed (`claimed:...`, or `anonymous`), a rate limit or a refusal
 * by the handler under the authenticated actor.
 */
export function guarded(deps: ApiDeps, limit: RateLimiter | null, accepts: Accepts, handler: Handler) {
  const action = (req: Request): string => `${req.method} ${req.route?.path ?? req.path}`;
  return async (req: Request, res: Response): Promise<void> => {
    let caller: AuthenticatedCaller;
    try {
      caller = await authenticate(deps, req, accepts);
    } catch (e) {
      if (e instanceof CaError && httpStatusFor(e) < 500) {
        const claimed = await claimedActor(deps, req);
        res.locals.claimedActor = claimed;
        deps.refusals.record(claimed === 'anonymous' ? claimed : `claimed:${claimed}`, 'authenticate', e.code, req.socket.remoteAddress);
      }
      throw e;
    }
    res.locals.actor = caller.actor;
    if (limit && !limit.take(caller.kind === 'token' ? `ip:${req.socket.remoteAddress}` : caller.actor)) {
      deps.refusals.record(caller.actor, action(req), 'ERR_RATE_LIMITED', req.socket.remoteAddress);
      throw new CaError('ERR_RATE_LIMITED', `api: too many requests from ${caller.kind === 'token' ? 'this address' : caller.actor}; retry in a second`);
    }
    try {
      await handler(caller, req, res);
    } catch (e) {
      if (e instanceof CaError && httpStatusFor(e) < 500) deps.refusals.record(caller.actor, action(req), e.code, req.socket.remoteAddress, e.detail);
      throw e;
    }
  };
}
