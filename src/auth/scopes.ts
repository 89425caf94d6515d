// API key scopes: typed `issue:spiffe:|dns:|ip:` patterns (untyped legacy globs read as the one type their form implies), `revoke`, `list`, `audit`, `apikeys`.

import { isIP } from 'node:net';
import { CaError } from '../errors.js';
import { parseIdentityPattern, patternLiteral, type IdentityKind, type IdentityPattern, type TypedIdentity } from '../identity/pattern.js';

/** A scope as granted to an API key; `text` is its canonical, typed form (what is stored and shown). */
export type Scope =
  | { readonly kind: 'issue'; readonly pattern: IdentityPattern; readonly text: string }
  | { readonly kind: 'revoke' | 'list' | 'audit' | 'apikeys'; readonly text: string };

const PLAIN = ['revoke', 'list', 'audit', 'apikeys'] as const;
const TYPED: Record<string, IdentityKind> = { 'spiffe:': 'spiffe', 'dns:': 'dns', 'ip:': 'ip' };

function invalid(text: string, why: string): CaError {
  return new CaError('ERR_SCOPE_INVALID', `auth: scope "${text}" ${why}`);
}

/**
 * The type an untyped `issue:<glob>` implies, and the pattern it becomes: `spiffe://…` is a SPIFFE ID pattern,
 * an address or CIDR is an IP range (`10.0.0.*` reads as `10.0.0.0/24`), anything else a DNS name pattern.
 * An IP glob no range can express (`10.*.0.1`) is refused rather than read as a DNS name.
 */
function untyped(glob: string): { kind: IdentityKind; pattern: string } {
  if (glob.startsWith('spiffe://')) return { kind: 'spiffe', pattern: glob };
  const [address] = glob.split('/');
  if (isIP(address ?? '') !== 0) return { kind: 'ip', pattern: glob };
  const octets = /^((?:\d{1,3}\.){1,3})\*$/.exec(glob);
  if (octets) {
    const given = octets[1]!.slice(0, -1).split('.');
    return { kind: 'ip', pattern: `${[...given, ...Array<string>(4 - given.length).fill('0')].join('.')}/${given.length * 8}` };
  }
  if (/^[\d.*]+$/.test(glob) && /\d/.test(glob) && glob.includes('*')) throw invalid(`issue:${glob}`, 'looks like an IP glob but no address range expresses it: use issue:ip:ADDRESS/PREFIX');
  if (/^[0-9a-f:*]+$/i.test(glob) && glob.includes(':')) throw invalid(`issue:${glob}`, 'looks like an IPv6 glob: use issue:ip:ADDRESS/PREFIX');
  return { kind: 'dns', pattern: glob };
}

/**
 * Parses a scope. `issue:spiffe:<pattern>`, `issue:dns:<pattern>` and `issue:ip:<address or CIDR>` grant
 * identities of that type only, in the one pattern dialect (`*` within a DNS label or path segment, `**`
 * across them). An untyped `issue:<glob>` is read as the one type its form implies, and its `text` is the
 * typed form it stands for.
 *
 * @example
 * parseScope('issue:*.acme.internal').text // 'issue:dns:*.acme.internal'
 * parseScope('issue:spiffe:spiffe://acme.internal/ns/prod/**')
 */
export function parseScope(text: string): Scope {
  if ((PLAIN as readonly string[]).includes(text)) return { kind: text as (typeof PLAIN)[number], text };
  if (!text.startsWith('issue:') || text.length === 'issue:'.length || /\s/.test(text)) {
    throw invalid(text, 'is unknown (use issue:spiffe:PATTERN, issue:dns:PATTERN, issue:ip:CIDR, revoke, list, audit or apikeys)');
  }
  const rest = text.slice('issue:'.length);
  const prefix = Object.keys(TYPED).find((p) => rest.startsWith(p) && !(p === 'spiffe:' && rest.startsWith('spiffe://')));
  const { kind, pattern } = prefix ? { kind: TYPED[prefix]!, pattern: rest.slice(prefix.length) } : untyped(rest);
  let parsed: IdentityPattern;
  try {
    parsed = parseIdentityPattern(kind, pattern);
  } catch (e) {
    throw invalid(text, `is not valid: ${(e as Error).message.replace(/^identity: /, '')}`);
  }
  return { kind: 'issue', pattern: parsed, text: `issue:${kind}:${parsed.text}` };
}

/**
 * An identity filter (`ca list --identity`, `?identity=`) in the scopes' dialect: `spiffe:|dns:|ip:` typed, or
 * untyped and read as the type its form implies.
 */
export function parseIdentityFilter(text: string): IdentityPattern {
  const usage = 'an identity pattern is spiffe:PATTERN, dns:PATTERN or ip:ADDRESS (or an untyped spiffe://… or DNS glob)';
  if (text.trim() === '') throw new CaError('ERR_PATTERN_INVALID', `identity: the pattern is empty; ${usage}`);
  try {
    const scope = parseScope(`issue:${text}`);
    if (scope.kind === 'issue') return scope.pattern;
  } catch (e) {
    const why = (e as Error).message.replace(/^\w+: (scope|pattern) "[^"]*" (is not valid: )?/, '');
    throw new CaError('ERR_PATTERN_INVALID', `identity: "${text}" is not an identity pattern (${why}); ${usage}`);
  }
  throw new CaError('ERR_PATTERN_INVALID', `identity: "${text}" is not an identity pattern; ${usage}`);
}

/** `query` narrowed, where the database can, to certificates that may match `pattern` (see {@link patternLiteral}). */
export function identityQuery<Q extends object>(query: Q, pattern: IdentityPattern): Q & { identityContains?: { kind: IdentityPattern['kind']; text: string } } {
  const text = patternLiteral(pattern);
  return text === '' ? query : { ...query, identityContains: { kind: pattern.kind, text } };
}

/** The identities a certificate carries, typed, for matching against patterns. */
export function identitiesOf(c: { readonly spiffeId: string | null; readonly dnsNames: readonly string[]; readonly ipAddresses: readonly string[] }): TypedIdentity[] {
  return [...(c.spiffeId ? [{ kind: 'spiffe' as const, value: c.spiffeId }] : []), ...c.dnsNames.map((value) => ({ kind: 'dns' as const, value })), ...c.ipAddresses.map((value) => ({ kind: 'ip' as const, value }))];
}

/** True when one of the `issue:` scopes covers `identity`; a pattern only ever matches identities of its own type. */
export function scopesAllowIdentity(scopes: readonly Scope[], identity: TypedIdentity): boolean {
  return scopes.some((s) => s.kind === 'issue' && s.pattern.matches(identity));
}

/** True when `scopes` include the plain scope `kind`. */
export function scopesAllow(scopes: readonly Scope[], kind: 'revoke' | 'list' | 'audit' | 'apikeys'): boolean {
  return scopes.some((s) => s.kind === kind);
}
