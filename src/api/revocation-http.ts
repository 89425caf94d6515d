// CRLs and OCSP over plain node:http (RFC 5280 §4.2.1.13, RFC 6960 Appendix A, RFC 5019 §5): hot, cacheable, no express.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CrlPublisher } from '../revocation/crl-publisher.js';
import { ocspErrorResponse } from '../revocation/ocsp.js';
import type { OcspAnswer, OcspResponder } from '../revocation/ocsp-responder.js';
import { toPem } from '../crypto/pem.js';

/** OCSP requests are a few hundred bytes; anything this large is not one. */
const MAX_OCSP_REQUEST = 16 * 1024;

/** `/crl/root`, `/crl/intermediate` (the current one) or `/crl/<issuer key id hex>`, as `.crl` (DER) or `.pem`. */
const CRL_PATH = /^\/crl\/(root|intermediate|[0-9a-f]{40})\.(crl|pem)$/;

function sendOcsp(res: ServerResponse, answer: OcspAnswer, cacheable: boolean, now: number): void {
  const headers: Record<string, string | number> = { 'content-type': 'application/ocsp-response', 'content-length': answer.body.length };
  if (cacheable && answer.cache) {
    const maxAge = Math.max(0, Math.floor((answer.cache.nextUpdate.getTime() - now) / 1000));
    headers['cache-control'] = `max-age=${maxAge}, public, no-transform, must-revalidate`;
    headers['last-modified'] = answer.cache.thisUpdate.toUTCString();
    headers.expires = answer.cache.nextUpdate.toUTCString();
    headers.etag = answer.cache.etag;
  } else headers['cache-control'] = 'no-store';
  res.writeHead(200, headers);
  res.end(answer.body);
}

/** The responder's answer, or `internalError` (RFC 6960 §2.3) when it failed unexpectedly: a request never goes unanswered. */
function answered(answer: Promise<OcspAnswer>): Promise<OcspAnswer> {
  return answer.catch(() => ({ body: ocspErrorResponse('internalError') }));
}

function decodeGetRequest(encoded: string): Buffer | undefined {
  try {
    const b64 = decodeURIComponent(encoded).replace(/-/g, '+').replace(/_/g, '/');
    if (b64 === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return undefined;
    return Buffer.from(b64, 'base64');
  } catch {
    return undefined;
  }
}

/** A handler for `/crl/*` and `/ocsp`; returns false for any other path. */
export function createRevocationHandler(deps: { publisher: CrlPublisher; responder: Pick<OcspResponder, 'respond'>; now?: () => number }) {
  const now = deps.now ?? Date.now;
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    const path = (req.url ?? '/').split('?')[0]!;
    const m = CRL_PATH.exec(path);
    if (m || path === '/crl/all.pem') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return methodNotAllowed(res, 'GET, HEAD');
      const which = m?.[1];
      const all = which === undefined ? deps.publisher.all() : undefined;
      const one = which === 'root' || which === 'intermediate' ? deps.publisher.get(which) : which !== undefined ? deps.publisher.byKeyId(which) : undefined;
      const pem = which === undefined || m?.[2] === 'pem';
      if (which !== undefined && which !== 'root' && which !== 'intermediate' && !one && deps.publisher.get('intermediate')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'ERR_NOT_FOUND', message: `revocation: no issuer of this CA has key id ${which} (or its last leaf has expired)` } }));
        return true;
      }
      const crls = all ?? (one ? [one] : undefined);
      // Validators follow the current intermediate's CRL: the one re-signed most often.
      const ref = one ?? deps.publisher.get('intermediate');
      if (crls === undefined || ref === undefined) {
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
        res.end('{"error":{"code":"ERR_CRL_NOT_READY","message":"revocation: the CRL is being generated; retry in a second"}}');
        return true;
      }
      const body = pem ? Buffer.from(crls.map((c) => toPem('X509 CRL', c.der)).join('')) : one!.der;
      const etag = `"${pem ? 'pem-' : ''}${crls.map((c) => `${c.issuerKeyIdHex.slice(0, 8)}.${c.number}`).join('-')}"`;
      // Cacheable until shortly (a tenth of the validity) before nextUpdate, so no proxy serves a stale CRL.
      const soonest = crls.reduce((a, c) => (c.nextUpdate < a.nextUpdate ? c : a), ref);
      const validity = soonest.nextUpdate.getTime() - soonest.thisUpdate.getTime();
      const maxAge = Math.max(0, Math.floor((soonest.nextUpdate.getTime() - validity / 10 - now()) / 1000));
      const headers = {
        'content-type': pem ? 'application/x-pem-file' : 'application/pkix-crl',
        'cache-control': `public, max-age=${maxAge}`,
        'last-modified': ref.thisUpdate.toUTCString(),
        expires: soonest.nextUpdate.toUTCString(),
        etag,
      };
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, headers);
        res.end();
        return true;
      }
      res.writeHead(200, { ...headers, 'content-length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
      return true;
    }
    if (path === '/ocsp' && req.method === 'POST') {
      const chunks: Buffer[] = [];
      let size = 0;
      let tooLarge = false;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_OCSP_REQUEST) tooLarge = true;
        else chunks.push(c);
      });
      req.on('end', () => {
        if (tooLarge) return sendOcsp(res, { body: ocspErrorResponse('malformedRequest') }, false, now());
        void answered(deps.responder.respond(Buffer.concat(chunks), req.socket.remoteAddress)).then((answer) => sendOcsp(res, answer, false, now()));
      });
      req.on('error', () => res.destroy());
      return true;
    }
    if (path === '/ocsp' || path.startsWith('/ocsp/')) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return methodNotAllowed(res, 'GET, POST');
      const der = path.length > '/ocsp/'.length ? decodeGetRequest(path.slice('/ocsp/'.length)) : undefined;
      const answer = der === undefined || der.length > MAX_OCSP_REQUEST ? Promise.resolve({ body: ocspErrorResponse('malformedRequest') }) : deps.responder.respond(der, req.socket.remoteAddress);
      void answered(answer).then((a) => sendOcsp(res, a, true, now()));
      return true;
    }
    return false;
  };
}

function methodNotAllowed(res: ServerResponse, allow: string): true {
  res.writeHead(405, { 'content-type': 'application/json', allow });
  res.end(JSON.stringify({ error: { code: 'ERR_METHOD_NOT_ALLOWED', message: `api: use ${allow}` } }));
  return true;
}
