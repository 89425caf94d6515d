// Plain GET/POST of bytes over http or https (CRLs, OCSP, the trust bundle), with the same error codes as the API client.

import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { CaError } from '../errors.js';

const MAX_BODY = 256 * 1024 * 1024;

/** Fetches `url`; https needs `caBundle` (PEM). Non-2xx answers are `ERR_CA_RESPONSE`. */
export function fetchBytes(url: string, options: { caBundle?: string; method?: 'GET' | 'POST'; body?: Buffer; contentType?: string; timeoutMs?: number } = {}): Promise<Buffer> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return Promise.reject(new CaError('ERR_USAGE', `client: "${url}" is not a URL`));
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return Promise.reject(new CaError('ERR_USAGE', `client: ${url} is not http(s)`));
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      u,
      {
        method: options.method ?? 'GET',
        agent: false,
        timeout: options.timeoutMs ?? 30_000,
        ...(u.protocol === 'https:' ? { ca: options.caBundle, minVersion: 'TLSv1.2' as const } : {}),
        headers: options.body ? { 'content-type': options.contentType ?? 'application/octet-stream', 'content-length': options.body.length } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY) req.destroy(new Error('response too large'));
          else chunks.push(c);
        });
        res.on('end', () => {
          if (res.statusCode! >= 200 && res.statusCode! < 300) resolve(Buffer.concat(chunks));
          else reject(new CaError('ERR_CA_RESPONSE', `client: ${u.host}${u.pathname} answered HTTP ${res.statusCode}`));
        });
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) =>
      reject(/CERT|SELF_SIGNED|UNABLE_TO|ALTNAME/.test(e.code ?? '') ? new CaError('ERR_TLS_TRUST', `client: ${u.host} is not trusted by the given --ca-bundle (${e.code})`) : new CaError('ERR_CA_UNREACHABLE', `client: cannot reach ${u.host} (${e.code ?? e.message})`)),
    );
    req.end(options.body);
  });
}
