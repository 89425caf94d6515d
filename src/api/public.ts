// What is served without authentication on both listeners: trust bundle, health, readiness, metrics, OpenAPI document, signed audit head.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorBody } from './errors.js';
import { OPENAPI } from './openapi.js';
import type { ApiDeps } from './ports.js';

type PublicDeps = Pick<ApiDeps, 'authority' | 'readiness' | 'metricsText' | 'auditHead'>;

function send(res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...extra });
  res.end(body);
}

/**
 * A plain node:http handler (no express: these are hot, cacheable, unauthenticated reads). Returns false for a
 * path it does not serve, so the caller can answer 404 or hand the request on.
 */
export function createPublicHandler(deps: PublicDeps): (req: IncomingMessage, res: ServerResponse) => boolean {
  const openapi = JSON.stringify(OPENAPI);
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const known = ['/v1/trust-bundle', '/healthz', '/readyz', '/metrics', '/v1/openapi.json', '/v1/audit/head'];
    if (!known.includes(path!)) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'application/json', JSON.stringify({ error: { code: 'ERR_METHOD_NOT_ALLOWED', message: `api: ${path} answers GET only` } }), { allow: 'GET, HEAD' });
      return true;
    }
    switch (path) {
      case '/v1/trust-bundle':
        send(res, 200, 'application/x-pem-file', deps.authority.trustBundlePem, { 'cache-control': 'public, max-age=300' });
        break;
      case '/healthz':
        send(res, 200, 'application/json', '{"status":"ok"}');
        break;
      case '/readyz':
        deps.readiness().then(
          (r) => send(res, r.ok ? 200 : 503, 'application/json', JSON.stringify({ status: r.ok ? 'ready' : 'not ready', checks: r.checks, ...(r.warnings && Object.keys(r.warnings).length > 0 ? { warnings: r.warnings } : {}) })),
          (e: unknown) => send(res, 503, 'application/json', JSON.stringify({ status: 'not ready', checks: { readiness: (e as Error).message } })),
        );
        break;
      case '/v1/audit/head': {
        const head = deps.auditHead();
        if (head) send(res, 200, 'application/json', JSON.stringify(head));
        else send(res, 503, 'application/json', JSON.stringify({ error: { code: 'ERR_AUDIT_HEAD_NOT_READY', message: 'audit: no head has been signed yet; retry in a second' } }), { 'retry-after': '1' });
        break;
      }
      case '/metrics':
        deps.metricsText().then(
          (text) => send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', text),
          (e: unknown) => send(res, 500, 'application/json', JSON.stringify(errorBody(e))),
        );
        break;
      default:
        send(res, 200, 'application/json', openapi);
    }
    return true;
  };
}
