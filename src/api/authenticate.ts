// Turns an HTTP request's credential (Bearer token or API key, or the TLS client certificate) into an AuthenticatedCaller.

import type { Request } from 'express';
import type { TLSSocket } from 'node:tls';
import { decodeJwt } from 'jose';
import { apiKeyId, looksLikeApiKey, verifyApiKey } from '../auth/api-keys.js';
import { apiKeyCaller, certificateCaller, operatorCaller, tokenCaller, type AuthenticatedCaller } from '../auth/caller.js';
import { verifyEnrollmentToken } from '../auth/enrollment-token.js';
import { CaError } from '../errors.js';
import { readCertificate } from '../pki/certificate.js';
import { readSubjectAltName } from '../pki/extensions.js';
import { OID } from '../pki/oids.js';
import { peerCertificateDer } from '../tls/identity.js';
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
  const der = peerCertificateDer(socket);
  if (!der) return undefined;
  if (!socket.authorized) {
    const reason = String(socket.authorizationError ?? '');
    if (reason === 'CERT_HAS_EXPIRED') throw new CaError('ERR_CERTIFICATE_EXPIRED', 'api: the client certificate has expired');
    throw new CaError('ERR_CERTIFICATE_UNTRUSTED', `api: the client certificate does not chain to this CA (${reason})`);
  }
  return der;
}

/**
 * True for a request a browser sent on behalf of another site's page. A browser presents its client certificate on
 * any request to this origin, another site's form or fetch included (with no preflight for a POST with no body or a
 * text/plain one), so a certificate-authenticated change must come from this origin or from a non-browser client,
 * which sends neither header.
 */
function crossSite(req: Request): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return true;
  const origin = req.headers.origin;
  return origin !== undefined && origin !== `https://${req.headers.host ?? ''}`;
}

/** Text an attacker chose, made safe and short enough for an audit row or a log line. */
const claimed = (text: string): string => (/^[\x21-\x7e]{1,128}$/.test(text) ? text : '?');

/**
 * Who a refused request said it was, for the audit log and the request log: `apikey:<name>` or
 * `apikey-id:<id>` for an unknown key (never the secret), `token:<jti>` (read from the unverified JWT),
 * `cert:<identity>#<serial>` from the presented certificate, or `anonymous`.
 */
export async function claimedActor(deps: Pick<ApiDeps, 'apiKeys'>, req: Request): Promise<string> {
  const header = req.headers.authorization;
  const presented = header?.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : undefined;
  if (presented !== undefined && presented !== '') {
    if (looksLikeApiKey(presented)) {
      const id = apiKeyId(presented);
      if (id === undefined) return 'apikey:?';
      // The name of the key it claims, when the database can say (it may be what failed).
      const record = await deps.apiKeys.findApiKey(id).catch(() => undefined);
      return record ? `apikey:${record.name}` : `apikey-id:${id}`;
    }
    try {
      const jti = decodeJwt(presented).jti;
      return `token:${typeof jti === 'string' ? claimed(jti) : '?'}`;
    } catch {
      return 'bearer:?';
    }
  }
  const socket = req.socket as TLSSocket;
  const der = socket.encrypted ? peerCertificateDer(socket) : undefined;
  if (der) {
    try {
      const view = readCertificate(der);
      const san = view.extensions.get(OID.subjectAltName);
      const names = san ? readSubjectAltName(san.value) : undefined;
      return `cert:${claimed(names?.uris[0] ?? names?.dnsNames[0] ?? names?.ipAddresses[0] ?? '?')}#${view.serial}`;
    } catch {
      return 'cert:?';
    }
  }
  return 'anonymous';
}

/** The shape of a compact JWS: three base64url parts. */
const JWT_FORM = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Authenticates `req`, accepting only the credential kinds in `accepts`. */
export async function authenticate(deps: ApiDeps, req: Request, accepts: Accepts): Promise<AuthenticatedCaller> {
  const presented = accepts === 'certificate' ? undefined : bearer(req);
  if (presented !== undefined) {
    // Told apart by form, so a mistyped key is not reported as a bad token (or the reverse).
    if (looksLikeApiKey(presented)) return apiKeyCaller(await verifyApiKey(deps.apiKeys, deps.clock, presented));
    if (/^mca/i.test(presented)) throw new CaError('ERR_APIKEY_INVALID', 'auth: the API key is malformed (a meshca API key is mca_<16 hex digits>_<43 characters>, as ca apikey create prints it)');
    if (!JWT_FORM.test(presented)) throw new CaError('ERR_UNAUTHENTICATED', 'api: the bearer credential is neither a meshca API key (mca_…) nor an enrollment token (a JWT from ca token)');
    return tokenCaller(await verifyEnrollmentToken(deps.tokenKey, deps.clock, deps.authority.trustDomain, presented));
  }
  if (accepts !== 'bearer' || (deps.operators?.length ?? 0) > 0) {
    const der = clientCertificate(req);
    if (der) {
      const leaf = await deps.authority.currentLeaf(der);
      // Where only a certificate is taken (renewal), an operator's certificate is one like any other.
      const grant = leaf.spiffeId === null || accepts === 'certificate' ? undefined : deps.operators?.find((o) => o.pattern.matches({ kind: 'spiffe', value: leaf.spiffeId! }));
      if (grant) {
        // A browser presents a client certificate on any request to this origin, another site's included: an
        // operator's certificate counts only on requests that carry this header, which no other site can add.
        if (req.headers['x-meshca-operator'] !== '1') throw new CaError('ERR_UNAUTHENTICATED', 'api: an operator certificate authenticates only requests with the header "X-Meshca-Operator: 1"');
        return operatorCaller(leaf, grant.scopes);
      }
      if (accepts !== 'bearer') {
        if (req.method !== 'GET' && req.method !== 'HEAD' && crossSite(req)) {
          throw new CaError('ERR_CROSS_SITE', 'api: a request another site\'s page made through a browser cannot use the browser\'s client certificate (Origin or Sec-Fetch-Site says so)');
        }
        return certificateCaller(leaf);
      }
    }
  }
  throw new CaError(
    'ERR_UNAUTHENTICATED',
    accepts === 'certificate' ? 'api: present your current certificate (mTLS): this takes no other credential' : accepts === 'bearer' ? 'api: send "Authorization: Bearer <enrollment token or API key>"' : 'api: authenticate with an API key or your certificate (mTLS)',
  );
}
