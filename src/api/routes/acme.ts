// /acme/: the ACME server's HTTP face (RFC 8555): JOSE bodies in, JSON and problem documents out, a fresh nonce on every answer.

import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { AcmeProblem, problem } from '../../acme/problem.js';
import { accountJson, type AcmeService, type AcmeUrls } from '../../acme/service.js';
import type { KeyMode } from '../../acme/jws.js';
import type { AcmeChallengeRecord, AcmeOrderRecord } from '../../acme/ports.js';
import { CaError } from '../../errors.js';
import type { ApiDeps } from '../ports.js';
import { perSecondLimiter } from './guard.js';

/** The server's own URLs, from the Host the client used (the client signs the URL it sent to; it must match). */
function urlsFor(req: Request): AcmeUrls & { base: string; directory: string; ordersOf(id: string): string } {
  const base = `https://${req.headers.host ?? 'localhost'}/acme`;
  return {
    base,
    directory: `${base}/directory`,
    account: (id) => `${base}/acct/${id}`,
    accountId: (kid) => (kid.startsWith(`${base}/acct/`) ? kid.slice(`${base}/acct/`.length) : undefined),
    ordersOf: (id) => `${base}/acct/${id}/orders`,
  };
}

/** A request express or its body parser refused (too large, bad charset, not JSON, a bad %-escape): its 4xx as a problem. */
function requestProblem(e: unknown): AcmeProblem | undefined {
  const { type, status } = (e ?? {}) as { type?: unknown; status?: unknown };
  if (type === 'entity.parse.failed') return problem('malformed', 'the body is not JSON');
  if (type === 'entity.too.large') return problem('malformed', 'the body is larger than the 64 kB an ACME request may be', {}, 413);
  if (type === 'charset.unsupported' || type === 'encoding.unsupported') return problem('malformed', 'ACME bodies are UTF-8 JSON', {}, 415);
  if (e instanceof URIError || (typeof status === 'number' && status >= 400 && status < 500)) return problem('malformed', 'the request is not well formed (its path or body)', {}, typeof status === 'number' ? status : 400);
  return undefined;
}

/** The audit action of an ACME request: its route without parameters (`acme-order-finalize`), or `acme-request`. */
function acmeAction(req: Request): string {
  const route = (req.route as { path?: unknown } | undefined)?.path;
  return typeof route === 'string' ? `acme${route.replace(/\/:[A-Za-z]+/g, '').replace(/\//g, '-')}` : 'acme-request';
}

/** Who a refused request said it was, unverified: the account its kid names, the EAB key it presents, or nobody. */
function claimedActor(body: unknown): string {
  const decode = (part: unknown): Record<string, unknown> | undefined => {
    try {
      const v = typeof part === 'string' ? (JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown) : undefined;
      return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  };
  const jws = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const kid = decode(jws.protected)?.kid;
  if (typeof kid === 'string') return `claimed:acme:${kid.split('/').pop()!.slice(0, 40)}`;
  const eab = decode(jws.payload)?.externalAccountBinding as Record<string, unknown> | undefined;
  const eabKid = typeof eab === 'object' && eab !== null ? decode(eab.protected)?.kid : undefined;
  if (typeof eabKid === 'string') return `claimed:eab:${eabKid.slice(0, 64)}`;
  return 'anonymous';
}

export function acmeRoutes(deps: ApiDeps, acme: AcmeService): Router {
  const router = express.Router();
  // Each client address may make ten times --rate-limit ACME requests a second (an issuance takes about ten).
  const limiter = perSecondLimiter(deps.rateLimitPerSecond * 10);
  router.use((req, res, next) => {
    if (limiter.take(req.socket.remoteAddress ?? '')) return next();
    res.set('retry-after', '1');
    next(problem('rateLimited', `too many ACME requests from this address (at most ${deps.rateLimitPerSecond * 10} a second): retry after a second`));
  });
  // What meshca's other routes refuse before this router, said as problem documents here.
  router.use((req, _res, next) => {
    // Every URL the server names is built from Host: a host name or address and a port, nothing else.
    if (!/^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/.test(req.headers.host ?? '')) return next(problem('malformed', 'the Host header must be the CA\'s host name or address (and port)'));
    const encoding = req.headers['content-encoding'];
    if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') return next(problem('malformed', 'send ACME requests uncompressed (no Content-Encoding)', {}, 415));
    if (Object.keys(req.query as Record<string, unknown>).length > 0) return next(problem('malformed', 'ACME resources take no query parameters'));
    next();
  });
  // ACME bodies are JWS in JSON, application/jose+json; nothing else is parsed here.
  router.use(express.json({ type: 'application/jose+json', limit: '64kb', strict: true, inflate: false }));
  const answer = async (req: Request, res: Response, status: number, body: unknown, headers: Record<string, string> = {}): Promise<void> => {
    res.status(status).set({ 'replay-nonce': acme.newNonce(), 'cache-control': 'no-store', link: `<${urlsFor(req).directory}>;rel="index"`, ...headers }).json(body);
  };
  /** Verifies a request; who sent it (the account, or the key for jwk requests) is the actor of any refusal after. */
  const verify = async (req: Request, res: Response, url: string, mode: KeyMode, u: ReturnType<typeof urlsFor>) => {
    const verified = await acme.verify(req.body, url, mode, u);
    // A new account is named by the external account key it presents (the account key alone names nobody yet).
    const claimed = verified.kid === undefined ? claimedActor(req.body) : 'anonymous';
    res.locals.acmeActor = verified.kid !== undefined ? `acme:${u.accountId(verified.kid)}` : claimed !== 'anonymous' ? claimed : `acme-key:${verified.thumbprint.slice(0, 16)}`;
    return verified;
  };
  /** The POST-only resources: a GET there is 405 (RFC 8555 §6.3: POST-as-GET, not GET). */
  const postOnly: string[] = [];
  const post = (path: string, handler: (req: Request, res: Response) => Promise<void>) => {
    postOnly.push(path);
    router.post(path, (req, res, next) => {
      if (!(req.headers['content-type'] ?? '').toLowerCase().startsWith('application/jose+json')) return next(problem('malformed', 'ACME requests are application/jose+json', {}, 415));
      handler(req, res).catch(next);
    });
  };

  router.get('/directory', (req, res) => {
    const u = urlsFor(req);
    res.set('cache-control', 'no-store').json({
      newNonce: `${u.base}/new-nonce`,
      newAccount: `${u.base}/new-account`,
      newOrder: `${u.base}/new-order`,
      revokeCert: `${u.base}/revoke-cert`,
      keyChange: `${u.base}/key-change`,
      renewalInfo: `${u.base}/renewal-info`,
      meta: { externalAccountRequired: true, website: 'https://github.com/meshca' },
    });
  });
  const nonce = (status: number) => (req: Request, res: Response) => void res.status(status).set({ 'replay-nonce': acme.newNonce(), 'cache-control': 'no-store', link: `<${urlsFor(req).directory}>;rel="index"` }).end();
  router.head('/new-nonce', nonce(200));
  router.get('/new-nonce', nonce(204));

  post('/new-account', async (req, res) => {
    const u = urlsFor(req);
    const verified = await verify(req, res, `${u.base}/new-account`, 'jwk', u);
    const { account, created } = await acme.newAccount(verified);
    await answer(req, res, created ? 201 : 200, accountJson(account, u.ordersOf(account.id)), { location: u.account(account.id) });
  });

  post('/acct/:id/orders', async (req, res) => {
    const id = String(req.params.id);
    const { u, account } = await accountOf(req, res, urlsFor(req).ordersOf(id));
    if (account.id !== id) throw problem('unauthorized', 'an account\'s orders are its own to list');
    const orders = await deps.acmeOrders!.ordersOf(account);
    await answer(req, res, 200, { orders: orders.map((o) => `${u.base}/order/${o.id}`) });
  });
  // ARI (RFC 9773): the window meshca suggests for the certificate, the same as /v1/certificates/{serial}/renewal-info.
  router.get('/renewal-info/:certId', async (req, res, next) => {
    try {
      const [, serialPart] = String(req.params.certId).split('.');
      const serial = serialPart === undefined ? '' : Buffer.from(serialPart, 'base64url').toString('hex');
      if (!/^[0-9a-f]{2,40}$/.test(serial)) throw problem('malformed', 'the certificate identifier is base64url(AKI keyIdentifier).base64url(serial)');
      const info = await deps.authority.renewalInfo(serial).catch((e: unknown) => {
        throw (e as { code?: string }).code === 'ERR_CERTIFICATE_NOT_FOUND' ? problem('malformed', 'this CA issued no certificate with that serial') : e;
      });
      res.status(200).set({ 'retry-after': String(info.retryAfterSeconds), 'cache-control': 'no-store' }).json({ suggestedWindow: { start: info.window.start.toISOString(), end: info.window.end.toISOString() }, ...(info.window.explanationUrl ? { explanationURL: info.window.explanationUrl } : {}) });
    } catch (e) {
      next(e);
    }
  });

  post('/acct/:id', async (req, res) => {
    const u = urlsFor(req);
    const id = String(req.params.id);
    const verified = await verify(req, res, u.account(id), 'kid', u);
    const account = await acme.updateAccount(verified, id, u);
    await answer(req, res, 200, accountJson(account, u.ordersOf(account.id)), { location: u.account(account.id) });
  });

  /** The account a kid-signed request comes from (valid: verify() accepts no other). */
  const accountOf = async (req: Request, res: Response, url: string) => {
    const u = urlsFor(req);
    const verified = await verify(req, res, url, 'kid', u);
    const account = await acme.account(u.accountId(verified.kid!)!);
    return { u, verified, account };
  };
  const challengeJson = (u: ReturnType<typeof urlsFor>, c: AcmeChallengeRecord) => ({ type: c.type, url: `${u.base}/chall/${c.id}`, token: c.token, status: c.status, ...(c.validatedAt ? { validated: c.validatedAt.toISOString() } : {}), ...(c.error ? { error: JSON.parse(c.error) as unknown } : {}) });
  const orderJson = async (u: ReturnType<typeof urlsFor>, o: AcmeOrderRecord) => ({
    status: o.status,
    expires: o.expiresAt.toISOString(),
    identifiers: o.identifiers,
    authorizations: (await deps.acmeOrders!.authorizationsOf(o.id)).map((a) => `${u.base}/authz/${a.id}`),
    finalize: `${u.base}/order/${o.id}/finalize`,
    ...(o.certificateSerial ? { certificate: `${u.base}/cert/${o.id}` } : {}),
    ...(o.error ? { error: JSON.parse(o.error) as unknown } : {}),
  });

  post('/new-order', async (req, res) => {
    const { u, verified, account } = await accountOf(req, res, `${urlsFor(req).base}/new-order`);
    const { order } = await deps.acmeOrders!.newOrder(verified, account);
    await answer(req, res, 201, await orderJson(u, order), { location: `${u.base}/order/${order.id}` });
  });
  post('/order/:id', async (req, res) => {
    const id = String(req.params.id);
    const { u, account } = await accountOf(req, res, `${urlsFor(req).base}/order/${id}`);
    await answer(req, res, 200, await orderJson(u, await deps.acmeOrders!.order(account, id)));
  });
  post('/order/:id/finalize', async (req, res) => {
    const id = String(req.params.id);
    const { u, verified, account } = await accountOf(req, res, `${urlsFor(req).base}/order/${id}/finalize`);
    const order = await deps.acmeOrders!.finalize(verified, account, id);
    await answer(req, res, 200, await orderJson(u, order), { location: `${u.base}/order/${order.id}` });
  });
  post('/authz/:id', async (req, res) => {
    const id = String(req.params.id);
    const { u, account } = await accountOf(req, res, `${urlsFor(req).base}/authz/${id}`);
    const { authorization, challenges } = await deps.acmeOrders!.authorization(account, id);
    await answer(req, res, 200, { status: authorization.status, expires: authorization.expiresAt.toISOString(), identifier: authorization.identifier, challenges: challenges.map((c) => challengeJson(u, c)) });
  });
  post('/chall/:id', async (req, res) => {
    const id = String(req.params.id);
    const { u, verified, account } = await accountOf(req, res, `${urlsFor(req).base}/chall/${id}`);
    // An empty object asks for validation; POST-as-GET only reads.
    const challenge = verified.payload === undefined ? await deps.acmeOrders!.challenge(account, id) : await deps.acmeOrders!.respond(account, id);
    await answer(req, res, 200, challengeJson(u, challenge), { link: `<${u.base}/authz/${challenge.authorizationId}>;rel="up", <${u.directory}>;rel="index"` });
  });
  post('/key-change', async (req, res) => {
    const u = urlsFor(req);
    const verified = await verify(req, res, `${u.base}/key-change`, 'kid', u);
    const account = await acme.keyChange(verified, u);
    await answer(req, res, 200, accountJson(account, u.ordersOf(account.id)), { location: u.account(account.id) });
  });
  post('/revoke-cert', async (req, res) => {
    const u = urlsFor(req);
    const verified = await verify(req, res, `${u.base}/revoke-cert`, 'either', u);
    await deps.acmeOrders!.revoke(verified, verified.kid === undefined ? undefined : await acme.account(u.accountId(verified.kid)!));
    res.status(200).set({ 'replay-nonce': acme.newNonce(), 'cache-control': 'no-store', link: `<${u.directory}>;rel="index"` }).end();
  });
  post('/cert/:id', async (req, res) => {
    const id = String(req.params.id);
    const { account } = await accountOf(req, res, `${urlsFor(req).base}/cert/${id}`);
    const { pem, issuerKeyId } = await deps.acmeOrders!.certificatePem(account, id);
    const u = urlsFor(req);
    res.status(200).set({ 'replay-nonce': acme.newNonce(), 'cache-control': 'no-store', 'content-type': 'application/pem-certificate-chain', link: `<${u.base}/issuer/${issuerKeyId}>;rel="up", <${u.directory}>;rel="index"` }).send(pem);
  });
  // The issuer a certificate's Link rel="up" names: the intermediate, public like the trust bundle.
  router.get('/issuer/:keyId', (req, res) => {
    const issuer = deps.authority.publishedIntermediates.find((i) => i.keyIdHex === String(req.params.keyId).toLowerCase());
    if (!issuer) throw problem('malformed', 'no intermediate of this CA has that key identifier');
    res.status(200).set({ 'content-type': 'application/pem-certificate-chain', 'cache-control': 'public, max-age=3600' }).send(issuer.pem);
  });

  router.get(postOnly, (_req: Request, res: Response) => {
    res.set('allow', 'POST');
    throw problem('malformed', 'this resource is read with POST-as-GET (a JWS with an empty payload), not GET', {}, 405);
  });
  router.use((req: Request) => {
    throw problem('malformed', `no ACME resource at ${req.method} ${req.originalUrl.slice(0, 100)}`);
  });
  // Every failure is a problem document with a fresh nonce (RFC 8555 §6.5: a badNonce answer must carry one).
  router.use((e: unknown, req: Request, res: Response, _next: NextFunction) => {
    const p = e instanceof AcmeProblem ? e : e instanceof CaError && e.code === 'ERR_DATABASE_UNAVAILABLE' ? problem('serverInternal', "the CA's database is unavailable; retry shortly", {}, 503) : requestProblem(e);
    if (!p) deps.logger.error({ err: e }, 'acme: unexpected error');
    const doc = (p ?? problem('serverInternal', 'the request failed')).document();
    // Refusals are audited (aggregated per actor, action and reason, see auth/refusals.ts), but for nonces gone stale.
    if (p && p.type !== 'badNonce' && p.status < 500) {
      deps.refusals.record((res.locals.acmeActor as string | undefined) ?? claimedActor(req.body), acmeAction(req), `acme:${p.type}`, req.socket.remoteAddress, { detail: String(doc.detail).slice(0, 200) });
    }
    // RFC 8555 §7.3.5: a key already an account's is 409 with that account's URL in Location.
    if (typeof doc.location === 'string') res.set('location', doc.location);
    res.status(doc.status as number).set({ 'replay-nonce': acme.newNonce(), 'cache-control': 'no-store', 'content-type': 'application/problem+json' }).send(JSON.stringify(doc));
  });
  return router;
}
