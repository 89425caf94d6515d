// The express app for the HTTPS listener (it does not listen): /v1 routes, request ids, logging, JSON errors.

import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { CaError } from '../errors.js';
import { bodyParserError, errorBody, httpStatusFor, isDatabaseError } from './errors.js';
import type { ApiDeps } from './ports.js';
import { createPublicHandler } from './public.js';
import { requestLog } from './request-log.js';
import { auditRoutes } from './routes/audit.js';
import { certificateRoutes } from './routes/certificates.js';
import { perSecondLimiter } from './routes/guard.js';
import { renewRoutes } from './routes/renew.js';
import { acmeRoutes } from './routes/acme.js';
import { apiKeyRoutes } from './routes/apikeys.js';
import { overviewRoutes } from './routes/overview.js';
import { tokenRoutes } from './routes/tokens.js';
import { uiRoutes } from './ui.js';
import { revocationStreamRoutes } from './routes/revocation-stream.js';
import { renewalAdviceRoutes } from './routes/renewal-advice.js';
import { signRoutes } from './routes/sign.js';

/**
 * The query parameters each API path takes; any other is refused (`400 ERR_QUERY_INVALID`), like an unknown body
 * field: a script filtering on a parameter meshca does not know must not get the whole inventory back.
 */
const QUERY_PARAMETERS: Record<string, readonly string[]> = { '/v1/certificates': ['status', 'expiringWithin', 'limit', 'all', 'identity', 'order', 'after'], '/v1/audit': ['limit', 'after', 'before', 'order', 'actor', 'action', 'target', 'outcome', 'since', 'until'], '/v1/revocations/stream': ['after'] };

/** Largest JSON body accepted: a CSR with a large RSA key and names fits in a few kB. */
export const MAX_BODY = '64kb';

/** Builds the API app. */
export function createApiApp(deps: ApiDeps, revocationHandler?: (req: IncomingMessage, res: ServerResponse) => boolean): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.use(requestLog(deps));

  const publicHandler = createPublicHandler(deps);
  app.use((req, res, next) => {
    if (!(revocationHandler?.(req, res) ?? false) && !publicHandler(req, res)) next();
  });

  app.use(uiRoutes());
  // ACME speaks problem documents from the first byte (its own limits, encodings and errors).
  if (deps.acme) app.use('/acme', acmeRoutes(deps, deps.acme));
  // Bodies are small JSON: any Content-Encoding but identity is refused before a byte is inflated (no zip bombs,
  // no corrupt-stream errors), on every route, before authentication.
  app.use((req, _res, next) => {
    const encoding = req.headers['content-encoding'];
    if (encoding === undefined || encoding.trim().toLowerCase() === 'identity') return next();
    throw new CaError('ERR_BODY_ENCODING', `api: Content-Encoding ${JSON.stringify(encoding.slice(0, 32))} is not accepted: send the JSON body uncompressed`);
  });
  app.use((req, _res, next) => {
    const allowed = QUERY_PARAMETERS[req.path] ?? [];
    const unknown = Object.keys(req.query as Record<string, unknown>).filter((k) => !allowed.includes(k));
    if (unknown.length === 0) return next();
    const name = JSON.stringify(unknown[0]!.slice(0, 64));
    throw new CaError('ERR_QUERY_INVALID', allowed.length === 0 ? `api: ${req.path} takes no query parameters (got ${name})` : `api: unknown query parameter ${name} for ${req.path} (known: ${allowed.join(', ')})`);
  });
  app.use(express.json({ limit: MAX_BODY, strict: true, inflate: false }));
  const router = express.Router();
  const limiter = perSecondLimiter(deps.rateLimitPerSecond);
  signRoutes(router, deps, limiter);
  renewRoutes(router, deps, limiter);
  renewalAdviceRoutes(router, deps);
  certificateRoutes(router, deps);
  auditRoutes(router, deps);
  overviewRoutes(router, deps);
  apiKeyRoutes(router, deps);
  tokenRoutes(router, deps);
  if (deps.revocationFeed) revocationStreamRoutes(router, deps, deps.revocationFeed, { maxSubscriptions: deps.maxStreamSubscriptions ?? 768 });
  app.use(router);

  app.use((req: Request) => {
    throw new CaError('ERR_NOT_FOUND', `api: no route for ${req.method} ${req.path}`);
  });
  app.use((e: unknown, req: Request, res: Response, _next: NextFunction) => {
    const err = bodyParserError(e) ?? e;
    const status = httpStatusFor(err);
    // A typed 503 (the database out of reach, a busy store) is the service saying so, not a bug: the request log
    // has each one, and the jobs that watch the store log the outage once.
    if (!(err instanceof CaError)) deps.logger.error({ err: e, reqId: res.locals.requestId as string | undefined }, 'unexpected error');
    else deps.metrics.refused(err.code);
    // The caller is told only that the database failed; a failure that is not an outage (those the store's jobs log
    // once) is logged here with what it was.
    if (isDatabaseError(err) && err.code !== 'ERR_DATABASE_UNAVAILABLE' && err.code !== 'ERR_STORE_BUSY') {
      deps.logger.warn({ code: err.code, reqId: res.locals.requestId as string | undefined }, err.message);
    }
    res.locals.errorCode = err instanceof CaError ? err.code : 'ERR_INTERNAL';
    res.status(status).json(errorBody(err));
  });
  return app;
}
