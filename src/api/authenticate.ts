// Turns an HTTP request's credential (Bearer token or API key, or the TLS client certificate) into an AuthenticatedCaller.

import type { Request } from 'express';
import type { TLSSocket } from 'node:tls';
import { looksLikeApiKey, verifyApiKey } from '../auth/api-keys.js';
import { apiKeyCaller, certificateCaller, tokenCaller, type AuthenticatedCaller } from '../auth/caller.js';
import { verifyEnrollmentToken } from '../auth/enrollment-token.js';
import { CaError } from '../errors.js';
import type { ApiDeps } from './ports.js';

/** Which credentials a route accepts. */
export type Accepts = 'bearer' | 'certificate' | 'any';

function bearer(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  const m = /^Bearer ([\x21-\x7e]{1,8192})$/.exec(header);
  if (!m) throw new CaError('ERR_UNAUTHENTICATED', 'api: the Authorization header must be "Bearer <token or API key>"');
  return m[1]!;
}

/** The verified TLS client certificate's DER, or undefined when none was presented. */
function clientCertificate(req: Request): Buffer | undefined {
  const socket = req.socket as TLSSocket;
  if (!socket.encrypted) return undefined;
  const cert = socket.getPeerX509Certificate();
  if (!cert) return undefined;
  if (!socket.authorized) {
    const reason = String(socket.authorizationError ?? '');
    if (reason === 'CERT_HAS_EXPIRED') throw new CaError('ERR_CERTIFICATE_EXPIRED', 'api: the client certificate has expired');
    throw new CaError('ERR_CERTIFICATE_UNTRUSTED', `api: the client certificate does not chain to this CA (${reason})`);
  }
  return cert.raw;
}

/** Authenticates `req`, accepting only the credential kinds in `accepts`. */
export async function authenticate(deps: ApiDeps, req: Request, accepts: Accepts): Promise<AuthenticatedCaller> {
  const presented = accepts === 'certificate' ? undefined : bearer(req);
  if (presented !== undefined) {
    if (looksLikeApiKey(presented)) return apiKeyCaller(verifyApiKey(deps.apiKeys, deps.clock, presented));
    return tokenCaller(await verifyEnrollmentToken(deps.tokenKey, deps.clock, deps.authority.trustDomain, presented));
  }
  if (accepts !== 'bearer') {
    const der = clientCertificate(req);
    if (der) return certificateCaller(deps.authority.currentLeaf(der));
  }
  throw new CaError(
    'ERR_UNAUTHENTICATED',
    accepts === 'certificate' ? 'api: present your current certificate (mTLS) to renew' : accepts === 'bearer' ? 'api: send "Authorization: Bearer <enrollment token or API key>"' : 'api: authenticate with an API key or your certificate (mTLS)',
  );
}
