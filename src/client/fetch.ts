// The one HTTP(S) transport of meshca's clients: a request with optional client certificate, bytes back, and
// transport failures turned into ERR_CA_UNREACHABLE / ERR_TLS_TRUST.

import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { CaError } from '../errors.js';
import { CA_SERVICE_PATH, isCaServiceSpiffeId } from '../identity/reserved.js';
import { readCertificate } from '../pki/certificate.js';
import { readSubjectAltName } from '../pki/extensions.js';
import { OID } from '../pki/oids.js';

const MAX_BODY = 256 * 1024 * 1024;
const TLS_TRUST_ERRORS = /CERT|SELF_SIGNED|UNABLE_TO|ALTNAME|SIGNATURE|DEPTH_ZERO|ERR_TLS|ERR_MESHCA_NOT_CA_SERVICE/;

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
  /** Idle timeout: the request fails when nothing arrives for this long (default 30 s). */
  readonly timeoutMs?: number;
  /**
   * Total deadline: the request is destroyed and fails with ERR_CA_UNREACHABLE when the whole answer has not
   * arrived within this, however steadily a slow server trickles bytes (the idle timeout alone never fires then).
   */
  readonly deadlineMs?: number;
  /**
   * Require the server to be a meshca CA service: its certificate (already checked to chain to `caBundle` and
   * to match the host) must carry the reserved SPIFFE ID `spiffe://TD/meshca/ca`, which the CA issues to no one
   * else. Nothing (no credential, no request body) is sent to a server that fails this.
   */
  readonly caService?: boolean;
}

/** The SPIFFE ID (URI SAN) of a peer certificate, or null. */
function spiffeIdOf(cert: PeerCertificate): string | null {
  try {
    const san = readCertificate(cert.raw).extensions.get(OID.subjectAltName);
    const uris = san ? readSubjectAltName(san.value).uris : [];
    return uris.length === 1 ? uris[0]! : null;
  } catch {
    return null;
  }
}

/** Node's hostname check, then the CA service's identity (see {@link RequestOptions.caService}). */
export function caServiceIdentity(host: string, cert: PeerCertificate): Error | undefined {
  const hostname = checkServerIdentity(host, cert);
  if (hostname) return hostname;
  const id = spiffeIdOf(cert);
  if (isCaServiceSpiffeId(id)) return undefined;
  return Object.assign(new Error(`${host} presents a certificate for ${id ?? 'no SPIFFE ID'}, not the meshca CA service (spiffe://<trust domain>${CA_SERVICE_PATH})`), { code: 'ERR_MESHCA_NOT_CA_SERVICE' });
}

/** Sends one request and resolves with the status and body, whatever the status. */
export function requestBytes(url: URL, o: RequestOptions = {}): Promise<{ status: number; body: Buffer; headers: IncomingHttpHeaders }> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, rejectWith) => {
    let deadline: NodeJS.Timeout | undefined;
    const reject = (e: CaError) => {
      clearTimeout(deadline);
      rejectWith(e);
    };
    const req = request(
      url,
      {
        method: o.method ?? 'GET',
        agent: false,
        timeout: o.timeoutMs ?? 30_000,
        headers: { ...o.headers, ...(o.body ? { 'content-length': o.body.length } : {}) },
        ...(url.protocol === 'https:'
          ? {
              ca: o.caBundle,
              rejectUnauthorized: !o.insecure,
              minVersion: 'TLSv1.2' as const,
              ...(o.caService && !o.insecure ? { checkServerIdentity: caServiceIdentity } : {}),
              ...(o.cert !== undefined ? { cert: o.cert, key: o.key } : {}),
            }
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
        res.on('end', () => {
          clearTimeout(deadline);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers });
        });
        res.on('error', (e) => reject(transportError(url, e)));
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    if (o.deadlineMs !== undefined) {
      deadline = setTimeout(() => {
        // Settled here, not through the 'error' events: once the response has begun, destroy() reports a generic abort.
        reject(new CaError('ERR_CA_UNREACHABLE', `client: ${url.host}${url.pathname} did not answer within ${Number((o.deadlineMs! / 1000).toFixed(1))} s`));
        req.destroy();
      }, o.deadlineMs);
    }
    req.on('error', (e) => reject(transportError(url, e)));
    req.end(o.body);
  });
}

function transportError(url: URL, e: Error): CaError {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  if (code === 'ERR_MESHCA_NOT_CA_SERVICE') return new CaError('ERR_TLS_TRUST', `client: refusing to talk to ${url.host}: ${e.message.replace(/^[^ ]+ /, 'it ')}; nothing was sent`);
  if (TLS_TRUST_ERRORS.test(code)) return new CaError('ERR_TLS_TRUST', `client: ${url.host} is not trusted by the given --ca-bundle (${code})`);
  return new CaError('ERR_CA_UNREACHABLE', `client: cannot reach ${url.host} (${code || e.message})`);
}

/** Fetches `url` (CRLs, OCSP, the trust bundle); https needs `caBundle`. Non-2xx answers are `ERR_CA_RESPONSE`. */
export async function fetchBytes(url: string, options: { caBundle?: string; method?: 'GET' | 'POST'; body?: Buffer; contentType?: string; timeoutMs?: number; deadlineMs?: number; caService?: boolean } = {}): Promise<Buffer> {
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
