// CRLs and OCSP over plain node:http (RFC 5280 §4.2.1.13, RFC 6960 Appendix A, RFC 5019 §5): hot, cacheable, no express.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CrlLevel } from '../authority/authority.js';
import type { CrlPublisher } from '../revocation/crl-publisher.js';
import { ocspErrorResponse } from '../revocation/ocsp.js';
import type { OcspAnswer, OcspResponder } from '../revocation/ocsp-responder.js';

/** OCSP requests are a few hundred bytes; anything this large is not one. */
const MAX_OCSP_REQUEST = 16 * 1024;

const CRL_PATHS: Record<string, CrlLevel> = { '/crl/intermediate.crl': 'intermediate', '/crl/root.crl': 'root' };

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
export function createRevocationHandler(deps: { publisher: CrlPublisher; responder: OcspResponder; now?: () => number }) {
  const now = deps.now ?? Date.now;
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    const path = (req.url ?? '/').split('?')[0]!;
    const level = CRL_PATHS[path];
    if (level !== undefined || path === '/crl/all.pem') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return methodNotAllowed(res, 'GET, HEAD');
      const crl = level === undefined ? undefined : deps.publisher.get(level);
      const pem = level === undefined ? deps.publisher.pem() : undefined;
      const body = crl?.der ?? (pem === undefined ? undefined : Buffer.from(pem));
      const ref = crl ?? deps.publisher.get('intermediate');
      if (body === undefined || ref === undefined) {
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
        res.end('{"error":{"code":"ERR_CRL_NOT_READY","message":"revocation: the CRL is being generated; retry in a second"}}');
        return true;
      }
      const etag = level === undefined ? `"all-${deps.publisher.get('root')?.number}-${ref.number}"` : ref.etag;
      // Cacheable until shortly (a tenth of the validity) before nextUpdate, so no proxy serves a stale CRL.
      const validity = ref.nextUpdate.getTime() - ref.thisUpdate.getTime();
      const maxAge = Math.max(0, Math.floor((ref.nextUpdate.getTime() - validity / 10 - now()) / 1000));
      const headers = {
        'content-type': level === undefined ? 'application/x-pem-file' : 'application/pkix-crl',
        'cache-control': `public, max-age=${maxAge}`,
        'last-modified': ref.thisUpdate.toUTCString(),
        expires: ref.nextUpdate.toUTCString(),
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
        sendOcsp(res, deps.responder.respond(Buffer.concat(chunks), req.socket.remoteAddress), false, now());
      });
      req.on('error', () => res.destroy());
      return true;
    }
    if (path === '/ocsp' || path.startsWith('/ocsp/')) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return methodNotAllowed(res, 'GET, POST');
      const der = path.length > '/ocsp/'.length ? decodeGetRequest(path.slice('/ocsp/'.length)) : undefined;
      const answer = der === undefined || der.length > MAX_OCSP_REQUEST ? { body: ocspErrorResponse('malformedRequest') } : deps.responder.respond(der, req.socket.remoteAddress);
      sendOcsp(res, answer, true, now());
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
