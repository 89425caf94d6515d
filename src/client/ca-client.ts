// A client for a remote meshca service's /v1 API over HTTPS, with an API key, an enrollment token or mTLS.

import { CaError, type CaErrorCode } from '../errors.js';
import { requestBytes } from './fetch.js';

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


/**
 * Talks to one CA. The server must chain to `caBundle`, match the URL's host and present the CA service's
 * reserved identity (`spiffe://TD/meshca/ca`) before any credential is sent. Every failure is a CaError: the
 * server's own code and message, or why it could not be reached or trusted.
 */
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
    return (await this.exchange<T>(method, path, credential, body)).body;
  }

  /** As `call`, with the answer's headers (renewal-info's `Retry-After`). */
  async exchange<T>(method: 'GET' | 'POST', path: string, credential: ClientCredential, body?: unknown): Promise<{ body: T; headers: Readonly<Record<string, string | string[] | undefined>> }> {
    const url = new URL(path.replace(/^\//, ''), this.base.href.endsWith('/') ? this.base : `${this.base.href}/`);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const res = await requestBytes(url, {
      method,
      ...(payload ? { body: payload } : {}),
      caBundle: this.options.caBundle,
      insecure: this.options.insecure ?? false,
      caService: true,
      timeoutMs: this.options.timeoutMs ?? 30_000,
      ...(credential && 'cert' in credential ? { cert: credential.cert, key: credential.key } : {}),
      headers: {
        accept: 'application/json',
        ...(credential && 'bearer' in credential ? { authorization: `Bearer ${credential.bearer}` } : {}),
        ...(payload ? { 'content-type': 'application/json' } : {}),
      },
    });
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.body.toString('utf8'));
    } catch {
      throw new CaError('ERR_CA_RESPONSE', `client: the CA answered ${res.status} with a body that is not JSON`);
    }
    if (res.status >= 200 && res.status < 300) return { body: parsed as T, headers: res.headers };
    const err = (parsed as { error?: { code?: unknown; message?: unknown } }).error;
    const code = typeof err?.code === 'string' && /^ERR_[A-Z_]+$/.test(err.code) ? (err.code as CaErrorCode) : 'ERR_CA_RESPONSE';
    throw new CaError(code, typeof err?.message === 'string' ? err.message : `client: the CA answered ${res.status}`, { detail: { status: res.status } });
  }
}
