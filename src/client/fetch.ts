// The one HTTP(S) transport of meshca's clients: a request with optional client certificate, bytes back, and
// transport failures turned into ERR_CA_UNREACHABLE / ERR_TLS_TRUST.

import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { CaError } from '../errors.js';

const MAX_BODY = 256 * 1024 * 1024;
const TLS_TRUST_ERRORS = /CERT|SELF_SIGNED|UNABLE_TO|ALTNAME|SIGNATURE|DEPTH_ZERO|ERR_TLS/;

export interface RequestOptions {
  readonly method?: 'GET' | 'POST';
  readonly body?: Buffer;
  readonly headers?: Record<string, string | number>;
  /** PEM roots to trust for https. */
  readonly caBundle?: string | undefined;
  /** Skip verifying the server's certificate (explicitly asked for only). */
  readonly insecure?: boolean;
  /** Client certificate and key (PEM) for mTLS. */
  readonly cert?: string;
  readonly key?: string;
  readonly timeoutMs?: number;
}

/** Sends one request and resolves with the status and body, whatever the status. */
export function requestBytes(url: URL, o: RequestOptions = {}): Promise<{ status: number; body: Buffer }> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: o.method ?? 'GET',
        agent: false,
        timeout: o.timeoutMs ?? 30_000,
        headers: { ...o.headers, ...(o.body ? { 'content-length': o.body.length } : {}) },
        ...(url.protocol === 'https:'
          ? { ca: o.caBundle, rejectUnauthorized: !o.insecure, minVersion: 'TLSv1.2' as const, ...(o.cert !== undefined ? { cert: o.cert, key: o.key } : {}) }
          : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY) req.destroy(new Error('response too large'));
          else chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', (e) => reject(transportError(url, e)));
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (e) => reject(transportError(url, e)));
    req.end(o.body);
  });
}

function transportError(url: URL, e: Error): CaError {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  if (TLS_TRUST_ERRORS.test(code)) return new CaError('ERR_TLS_TRUST', `client: ${url.host} is not trusted by the given --ca-bundle (${code})`);
  return new CaError('ERR_CA_UNREACHABLE', `client: cannot reach ${url.host} (${code || e.message})`);
}

/** Fetches `url` (CRLs, OCSP, the trust bundle); https needs `caBundle`. Non-2xx answers are `ERR_CA_RESPONSE`. */
export async function fetchBytes(url: string, options: { caBundle?: string; method?: 'GET' | 'POST'; body?: Buffer; contentType?: string; timeoutMs?: number } = {}): Promise<Buffer> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CaError('ERR_USAGE', `client: "${url}" is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new CaError('ERR_USAGE', `client: ${url} is not http(s)`);
  const res = await requestBytes(u, {
    ...options,
    headers: options.body ? { 'content-type': options.contentType ?? 'application/octet-stream' } : {},
  });
  if (res.status < 200 || res.status >= 300) throw new CaError('ERR_CA_RESPONSE', `client: ${u.host}${u.pathname} answered HTTP ${res.status}`);
  return res.body;
}
