// A client for a remote meshca service's /v1 API over HTTPS, with an API key, an enrollment token or mTLS.

import { request } from 'node:https';
import { CaError, type CaErrorCode } from '../errors.js';

/** How the client authenticates. */
export type ClientCredential = { readonly bearer: string } | { readonly cert: string; readonly key: string } | undefined;

export interface CaClientOptions {
  readonly caUrl: string;
  /** PEM of the root(s) to trust for the CA's TLS certificate. */
  readonly caBundle: string | undefined;
  /** Skip verifying the CA's TLS certificate (explicitly asked for only). */
  readonly insecure?: boolean;
  readonly timeoutMs?: number;
}

/** The body of an issued or renewed certificate. */
export interface IssuedCertificate {
  serial: string;
  notBefore: string;
  notAfter: string;
  spiffeId: string | null;
  dnsNames: string[];
  ipAddresses: string[];
  certificate: string;
  chain: string;
  renewed?: string;
}

const TLS_TRUST_ERRORS = /CERT|SELF_SIGNED|UNABLE_TO|ALTNAME|SIGNATURE|DEPTH_ZERO|ERR_TLS/;
const MAX_RESPONSE = 16 * 1024 * 1024;

/** Talks to one CA. Every failure is a CaError: the server's own code and message, or why it could not be reached. */
export class CaClient {
  private readonly base: URL;

  constructor(private readonly options: CaClientOptions) {
    let url: URL;
    try {
      url = new URL(options.caUrl);
    } catch {
      throw new CaError('ERR_USAGE', `client: --ca-url "${options.caUrl}" is not a URL`);
    }
    if (url.protocol !== 'https:') throw new CaError('ERR_USAGE', `client: the CA API is served over HTTPS; --ca-url must start with https:// (got ${url.protocol}//)`);
    if (!options.caBundle && !options.insecure) {
      throw new CaError('ERR_TLS_TRUST', 'client: pass --ca-bundle ROOT.pem to trust the CA (or --insecure to skip verifying it, for testing only)');
    }
    this.base = url;
  }

  /** Sends one request and parses the JSON answer. */
  async call<T>(method: 'GET' | 'POST', path: string, credential: ClientCredential, body?: unknown): Promise<T> {
    const url = new URL(path.replace(/^\//, ''), this.base.href.endsWith('/') ? this.base : `${this.base.href}/`);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise<T>((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          agent: false,
          ca: this.options.caBundle,
          rejectUnauthorized: !this.options.insecure,
          minVersion: 'TLSv1.2',
          timeout: this.options.timeoutMs ?? 30_000,
          ...(credential && 'cert' in credential ? { cert: credential.cert, key: credential.key } : {}),
          headers: {
            accept: 'application/json',
            ...(credential && 'bearer' in credential ? { authorization: `Bearer ${credential.bearer}` } : {}),
            ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_RESPONSE) req.destroy(new Error('response too large'));
            else chunks.push(c);
          });
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = JSON.parse(text);
            } catch {
              reject(new CaError('ERR_CA_RESPONSE', `client: the CA answered ${res.statusCode} with a body that is not JSON`));
              return;
            }
            if (res.statusCode! >= 200 && res.statusCode! < 300) return resolve(parsed as T);
            const err = (parsed as { error?: { code?: unknown; message?: unknown } }).error;
            const code = typeof err?.code === 'string' && /^ERR_[A-Z_]+$/.test(err.code) ? (err.code as CaErrorCode) : 'ERR_CA_RESPONSE';
            reject(new CaError(code, typeof err?.message === 'string' ? err.message : `client: the CA answered ${res.statusCode}`, { detail: { status: res.statusCode } }));
          });
          res.on('error', (e) => reject(this.transportError(e)));
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', (e) => reject(this.transportError(e)));
      req.end(payload);
    });
  }

  private transportError(e: Error): CaError {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (TLS_TRUST_ERRORS.test(code)) return new CaError('ERR_TLS_TRUST', `client: the CA at ${this.base.host} is not trusted by the given --ca-bundle (${code})`);
    return new CaError('ERR_CA_UNREACHABLE', `client: cannot reach the CA at ${this.base.host} (${code || e.message})`);
  }
}
