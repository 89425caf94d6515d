// API key scopes (`issue:<glob>`, `revoke`, `list`, `audit`) and the glob that says which identities a key may request.

import { CaError } from '../errors.js';

/** A scope as granted to an API key. */
export type Scope = { readonly kind: 'issue'; readonly pattern: string; readonly matcher: RegExp } | { readonly kind: 'revoke' | 'list' | 'audit' };

/**
 * Parses a scope. In `issue:<glob>`, `*` matches any run of characters (so `spiffe://acme.internal/ns/prod/*`
 * covers every ID under that path and `*.acme.internal` every name below that domain); everything else is literal.
 *
 * @example
 * parseScope('issue:spiffe://acme.internal/ns/prod/*')
 */
export function parseScope(text: string): Scope {
  if (text === 'revoke' || text === 'list' || text === 'audit') return { kind: text };
  if (text.startsWith('issue:') && text.length > 'issue:'.length && !/\s/.test(text)) {
    const pattern = text.slice('issue:'.length);
    const source = pattern.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*');
    return { kind: 'issue', pattern, matcher: new RegExp(`^${source}$`) };
  }
  throw new CaError('ERR_SCOPE_INVALID', `auth: unknown scope "${text}" (use issue:<glob>, revoke, list or audit)`);
}

/** True when one of the `issue:` scopes covers `identity` (a SPIFFE ID, DNS name or IP address). */
export function scopesAllowIdentity(scopes: readonly Scope[], identity: string): boolean {
  return scopes.some((s) => s.kind === 'issue' && s.matcher.test(identity));
}

/** True when `scopes` include the plain scope `kind`. */
export function scopesAllow(scopes: readonly Scope[], kind: 'revoke' | 'list' | 'audit'): boolean {
  return scopes.some((s) => s.kind === kind);
}
