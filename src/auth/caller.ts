// Who is calling the CA and what they may do: one decision per operation, for every kind of credential.

import type { LeafRequest } from '../authority/policy.js';
import type { CertificateRecord } from '../authority/ports.js';
import { CaError } from '../errors.js';
import { parseIpAddress } from '../identity/names.js';
import type { TypedIdentity } from '../identity/pattern.js';
import type { ApiKeyIdentity } from './api-keys.js';
import type { VerifiedToken } from './enrollment-token.js';
import { parseScope, scopesAllow, scopesAllowIdentity, type Scope } from './scopes.js';

/** An authenticated caller. `actor` is how the audit log names it. */
export type AuthenticatedCaller =
  | { readonly kind: 'token'; readonly actor: string; readonly token: VerifiedToken }
  | { readonly kind: 'apikey'; readonly actor: string; readonly apiKey: ApiKeyIdentity }
  | { readonly kind: 'certificate'; readonly actor: string; readonly certificate: CertificateRecord }
  /** An operator's client certificate: its SPIFFE ID matched `operators` in config.json, which grants these scopes. */
  | { readonly kind: 'operator'; readonly actor: string; readonly certificate: CertificateRecord; readonly scopes: readonly Scope[]; readonly scopeTexts: readonly string[] };

export const tokenCaller = (token: VerifiedToken): AuthenticatedCaller => ({ kind: 'token', actor: `token:${token.jti}`, token });
export const apiKeyCaller = (apiKey: ApiKeyIdentity): AuthenticatedCaller => ({ kind: 'apikey', actor: `apikey:${apiKey.record.name}`, apiKey });
export const operatorCaller = (certificate: CertificateRecord, scopeTexts: readonly string[]): AuthenticatedCaller => ({
  kind: 'operator',
  actor: `operator:${certificate.spiffeId}#${certificate.serial}`,
  certificate,
  scopes: scopeTexts.map(parseScope),
  scopeTexts,
});

/** What a caller that holds scopes (an API key, an operator's certificate) is called and may do; undefined for others. */
export function grantsOf(caller: AuthenticatedCaller): { readonly name: string; readonly scopes: readonly Scope[]; readonly texts: readonly string[] } | undefined {
  if (caller.kind === 'apikey') return { name: `API key "${caller.apiKey.record.name}"`, scopes: caller.apiKey.scopes, texts: caller.apiKey.record.scopes };
  if (caller.kind === 'operator') return { name: `operator ${caller.certificate.spiffeId}`, scopes: caller.scopes, texts: caller.scopeTexts };
  return undefined;
}

/** Decides a scope-gated operation: a caller holding `scope`, or a refusal naming who lacks it. */
function requireScope(caller: AuthenticatedCaller, scope: 'revoke' | 'list' | 'audit' | 'apikeys', lacking: string, otherwise: string): void {
  const grants = grantsOf(caller);
  if (grants && scopesAllow(grants.scopes, scope)) return;
  throw forbidden(grants ? `${grants.name} lacks the ${scope} scope${lacking}` : otherwise);
}

export const certificateCaller = (certificate: CertificateRecord): AuthenticatedCaller => ({
  kind: 'certificate',
  actor: `cert:${certificate.spiffeId ?? certificate.dnsNames[0] ?? certificate.commonName}#${certificate.serial}`,
  certificate,
});

function forbidden(message: string): CaError {
  return new CaError('ERR_FORBIDDEN', `auth: ${message}`);
}

const sameIp = (a: string, b: string): boolean => {
  try {
    return parseIpAddress(a).bytes.equals(parseIpAddress(b).bytes);
  } catch {
    return false;
  }
};

/**
 * Decides a sign request. A token grants exactly its identities (a request naming none gets them all; naming
 * anything else is refused) and at most its certificate lifetime (the CA's default when it names none); an API
 * key needs an `issue:` scope of the right type covering every requested identity. Returns the request to issue.
 */
export function authorizeSign(caller: AuthenticatedCaller, request: LeafRequest, ca: { readonly defaultTtlSeconds: number }): LeafRequest {
  if (caller.kind === 'token') {
    const t = caller.token;
    const ttl = { ttlSeconds: request.ttlSeconds ?? t.certTtlSeconds, ttlLimit: { seconds: t.certTtlSeconds ?? ca.defaultTtlSeconds, by: 'the enrollment token' } };
    const asksNames = request.spiffeId !== undefined || (request.dnsNames?.length ?? 0) > 0 || (request.ipAddresses?.length ?? 0) > 0;
    if (!asksNames) return { commonName: t.name, spiffeId: t.spiffeId, dnsNames: t.dnsNames, ipAddresses: t.ipAddresses, ...ttl };
    const denied = [
      ...(request.spiffeId !== undefined && request.spiffeId !== t.spiffeId ? [request.spiffeId] : []),
      ...(request.dnsNames ?? []).filter((d) => !t.dnsNames.includes(d.toLowerCase())),
      ...(request.ipAddresses ?? []).filter((ip) => !t.ipAddresses.some((g) => sameIp(g, ip))),
    ];
    if (denied.length > 0) throw new CaError('ERR_IDENTITY_NOT_PERMITTED', `auth: the enrollment token does not grant ${denied.join(', ')}`);
    if (request.commonName !== t.name) throw new CaError('ERR_IDENTITY_NOT_PERMITTED', `auth: the enrollment token is for "${t.name}", not "${request.commonName}"`);
    return { ...request, ...ttl };
  }
  if (caller.kind === 'apikey') {
    const identities: TypedIdentity[] = [
      ...(request.spiffeId === undefined ? [] : [{ kind: 'spiffe' as const, value: request.spiffeId }]),
      ...(request.dnsNames ?? []).map((d) => ({ kind: 'dns' as const, value: d.toLowerCase() })),
      ...(request.ipAddresses ?? []).map((ip) => ({ kind: 'ip' as const, value: ip })),
    ];
    if (!caller.apiKey.scopes.some((s) => s.kind === 'issue')) throw forbidden(`API key "${caller.apiKey.record.name}" has no issue scope`);
    const denied = identities.filter((id) => !scopesAllowIdentity(caller.apiKey.scopes, id));
    if (denied.length > 0) {
      const what = { spiffe: 'SPIFFE ID', dns: 'DNS name', ip: 'IP address' } as const;
      throw new CaError('ERR_IDENTITY_NOT_PERMITTED', `auth: API key "${caller.apiKey.record.name}" may not request ${denied.map((d) => `${what[d.kind]} ${d.value}`).join(', ')} (its scopes: ${caller.apiKey.scopes.map((s) => s.text).join(' ')})`);
    }
    return request;
  }
  throw forbidden('a certificate holder renews at /v1/renew; signing new identities needs a token or an API key');
}

/** Decides a revocation: an API key with `revoke`, or the holder of the certificate itself. */
export function authorizeRevoke(caller: AuthenticatedCaller, serial: string): void {
  if (caller.kind === 'certificate' && caller.certificate.serial === serial) return;
  if (caller.kind === 'certificate') throw forbidden('a certificate may revoke only itself');
  requireScope(caller, 'revoke', '', 'revoking needs an API key with the revoke scope');
}

/** Decides moving renewal windows (`renew-now`): API keys with `revoke`, which can end a certificate's use outright anyway. */
export function authorizeRenewNow(caller: AuthenticatedCaller): void {
  requireScope(caller, 'revoke', ' (renew-now needs it)', 'renew-now needs an API key with the revoke scope');
}

/**
 * Decides revoking a set of certificates (a lineage, or every match of an identity pattern): API keys with `revoke`
 * only. A certificate holder may revoke its own certificate, not what it was renewed into or shares a name with.
 */
export function authorizeMassRevoke(caller: AuthenticatedCaller): void {
  requireScope(caller, 'revoke', '', 'revoking a lineage or an identity needs an API key with the revoke scope');
}

/** Decides reading the inventory (`list`), the audit log (`audit`) or managing API keys (`apikeys`): API keys with that scope only. */
export function authorizeRead(caller: AuthenticatedCaller, scope: 'list' | 'audit' | 'apikeys'): void {
  requireScope(caller, scope, '', `this needs an API key with the ${scope} scope`);
}
