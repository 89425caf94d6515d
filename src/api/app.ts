// The express app for the HTTPS listener (it does not listen): /v1 routes, request ids, logging, JSON errors.

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { pinoHttp } from 'pino-http';
import { CaError } from '../errors.js';
import { bodyParserError, errorBody, httpStatusFor } from './errors.js';
import type { ApiDeps } from './ports.js';
import { createPublicHandler } from './public.js';
import { auditRoutes } from './routes/audit.js';
import { certificateRoutes } from './routes/certificates.js';
import { perSecondLimiter } from './routes/guard.js';
import { renewRoutes } from './routes/renew.js';
import { signRoutes } from './routes/sign.js';

/** Largest JSON body accepted: a CSR with a large RSA key and names fits in a few kB. */
export const MAX_BODY = '64kb';

/** Builds the API app. */
export function createApiApp(deps: ApiDeps, revocationHandler?: (req: IncomingMessage, res: ServerResponse) => boolean): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.use(
    pinoHttp({
      logger: deps.logger,
      genReqId: (req, res) => {
        const given = req.headers['x-request-id'];
        const id = typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
        res.setHeader('x-request-id', id);
        return id;
      },
      customProps: (_req, res) => ({ actor: (res as Response).locals?.actor }),
      serializers: {
        req: (req: { id: string; method: string; url: string; remoteAddress?: string }) => ({ id: req.id, method: req.method, url: req.url, remoteAddress: req.remoteAddress }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
    }),
  );
  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => deps.metrics.observeRequest(req.route?.path ?? 'unmatched', req.method, res.statusCode, Number(process.hrtime.bigint() - started) / 1e9));
    next();
  });

  const publicHandler = createPublicHandler(deps);
  app.use((req, res, next) => {
    if (!(revocationHandler?.(req, res) ?? false) && !publicHandler(req, res)) next();
  });

  app.use(express.json({ limit: MAX_BODY, strict: true }));
  const router = express.Router();
  const limiter = perSecondLimiter(deps.rateLimitPerSecond);
  signRoutes(router, deps, limiter);
  renewRoutes(router, deps, limiter);
  certificateRoutes(router, deps);
  auditRoutes(router, deps);
  app.use(router);

  app.use((req: Request) => {
    throw new CaError('ERR_NOT_FOUND', `api: no route for ${req.method} ${req.path}`);
  });
  app.use((e: unknown, req: Request, res: Response, _next: NextFunction) => {
    const err = bodyParserError(e) ?? e;
    const status = httpStatusFor(err);
    if (status >= 500) req.log.error({ err: e }, 'request failed');
    else deps.metrics.refused((err as CaError).code);
    res.status(status).json(errorBody(err));
  });
  return app;
}
