// Identity patterns: meshca's one glob dialect (`*` within a DNS label or path segment, `**` across), typed by the kind of identity it matches.

import { CaError } from '../errors.js';
import { parseIpAddress } from './names.js';

/** The kinds of identity a leaf carries. */
export type IdentityKind = 'spiffe' | 'dns' | 'ip';

/** One identity of a certificate or request: its kind and its text (SPIFFE ID, lowercase DNS name, IP address). */
export interface TypedIdentity {
  readonly kind: IdentityKind;
  readonly value: string;
}

/** A pattern that matches identities of exactly one kind. */
export interface IdentityPattern {
  readonly kind: IdentityKind;
  /** Canonical text: `spiffe://acme.internal/ns/*`, `*.acme.internal`, `10.0.0.0/24`. */
  readonly text: string;
  matches(identity: TypedIdentity): boolean;
}

function fail(kind: IdentityKind, text: string, why: string): never {
  throw new CaError('ERR_PATTERN_INVALID', `identity: "${text}" is not a valid ${kind === 'spiffe' ? 'SPIFFE ID' : kind === 'dns' ? 'DNS name' : 'IP'} pattern: ${why}`);
}

const escape = (s: string): string => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');

/** A pattern part (label or segment) as a regular expression; `**` spans parts separated by `sep`. */
function partSource(part: string, sep: '/' | '.'): string {
  const other = sep === '/' ? '[^/]' : '[^.]';
  if (part === '**') return `${other}+(?:${escape(sep)}${other}+)*`;
  return part.split('*').map(escape).join(`${other}*`);
}

/**
 * `spiffe://DOMAIN/path` where any segment (the trust domain included) may hold `*` (any run of characters
 * within that segment) and any path segment may be `**` (one or more whole segments).
 */
function spiffePattern(text: string): IdentityPattern {
  if (!text.startsWith('spiffe://')) fail('spiffe', text, 'it must start with spiffe://');
  if (text.length > 2048) fail('spiffe', text, 'longer than 2048 characters');
  const [domain, ...path] = text.slice('spiffe://'.length).split('/');
  if (!domain || !/^[a-z0-9._*-]+$/.test(domain)) fail('spiffe', text, 'the trust domain may hold only lowercase letters, digits, ".", "-", "_" and "*"');
  if (path.length === 0) fail('spiffe', text, 'a workload pattern needs a path (spiffe://DOMAIN/path)');
  for (const segment of path) {
    if (segment === '' || segment === '.' || segment === '..') fail('spiffe', text, 'empty, "." and ".." path segments are not allowed');
    if (!/^[A-Za-z0-9._*-]+$/.test(segment)) fail('spiffe', text, `path segment "${segment}" may hold only letters, digits, ".", "-", "_" and "*"`);
    if (segment.includes('**') && segment !== '**') fail('spiffe', text, '"**" must stand for a whole path segment');
  }
  if (domain.includes('**')) fail('spiffe', text, '"**" spans path segments, not the trust domain');
  const re = new RegExp(`^spiffe://${partSource(domain, '/')}/${path.map((s) => partSource(s, '/')).join('/')}$`);
  return { kind: 'spiffe', text, matches: (id) => id.kind === 'spiffe' && re.test(id.value) };
}

/** A DNS name where any label may hold `*` (any run of characters within that label) or be `**` (one or more labels). */
function dnsPattern(given: string): IdentityPattern {
  const text = given.toLowerCase();
  if (text.length === 0 || text.length > 253) fail('dns', given, 'it must be 1-253 characters');
  if (text.endsWith('.')) fail('dns', given, 'remove the trailing dot');
  const labels = text.split('.');
  for (const label of labels) {
    if (!/^[a-z0-9*-]{1,63}$/.test(label)) fail('dns', given, `label "${label}" may hold only letters, digits, "-" and "*"`);
    if (label.includes('**') && label !== '**') fail('dns', given, '"**" must stand for whole labels');
  }
  const re = new RegExp(`^${labels.map((l) => partSource(l, '.')).join('\\.')}$`);
  return { kind: 'dns', text, matches: (id) => id.kind === 'dns' && re.test(id.value.toLowerCase()) };
}

/** An IP address (one host) or a CIDR range whose host bits are zero. */
function ipRange(text: string): IdentityPattern {
  const [addressText, lengthText, ...rest] = text.split('/');
  if (rest.length > 0 || addressText === undefined) fail('ip', text, 'expected ADDRESS or ADDRESS/PREFIX');
  let address: { text: string; bytes: Buffer };
  try {
    address = parseIpAddress(addressText);
  } catch {
    return fail('ip', text, `"${addressText}" is not an IPv4 or IPv6 address`);
  }
  const bits = address.bytes.length * 8;
  const prefix = lengthText === undefined ? bits : /^\d{1,3}$/.test(lengthText) ? Number(lengthText) : NaN;
  if (!(prefix >= 0 && prefix <= bits)) fail('ip', text, `the prefix length must be 0-${bits}`);
  const inRange = (bytes: Buffer): boolean => {
    if (bytes.length !== address.bytes.length) return false;
    for (let bit = 0; bit < prefix; bit++) {
      const mask = 0x80 >> (bit % 8);
      if ((bytes[bit >> 3]! & mask) !== (address.bytes[bit >> 3]! & mask)) return false;
    }
    return true;
  };
  for (let bit = prefix; bit < bits; bit++) {
    if ((address.bytes[bit >> 3]! & (0x80 >> (bit % 8))) !== 0) fail('ip', text, `host bits are set beyond /${prefix}`);
  }
  const canonical = prefix === bits ? address.text : `${address.text}/${prefix}`;
  return {
    kind: 'ip',
    text: canonical,
    matches: (id) => {
      if (id.kind !== 'ip') return false;
      try {
        return inRange(parseIpAddress(id.value).bytes);
      } catch {
        return false;
      }
    },
  };
}

/**
 * Parses a pattern for one kind of identity. The dialect is the same everywhere meshca matches identities
 * (API-key scopes, meshca/tls authorizers): `*` stays within one DNS label or path segment, `**` spans
 * whole labels or segments; IP patterns are an address or a CIDR range.
 *
 * @example
 * parseIdentityPattern('spiffe', 'spiffe://acme.internal/ns/prod/*').matches({ kind: 'spiffe', value: 'spiffe://acme.internal/ns/prod/api' }) // true
 * parseIdentityPattern('dns', '*.acme.internal').matches({ kind: 'dns', value: 'a.b.acme.internal' }) // false: use **.acme.internal
 */
export function parseIdentityPattern(kind: IdentityKind, text: string): IdentityPattern {
  switch (kind) {
    case 'spiffe':
      return spiffePattern(text);
    case 'dns':
      return dnsPattern(text);
    case 'ip':
      return ipRange(text);
  }
}

/**
 * Text every identity `pattern` matches must contain (its longest run without a wildcard; for an IP range, its
 * address when it is a single address), for a database to narrow a search before the pattern decides. Empty when
 * there is none worth using.
 */
export function patternLiteral(pattern: IdentityPattern): string {
  if (pattern.kind === 'ip') return pattern.text.includes('/') ? '' : pattern.text;
  return pattern.text.split('*').reduce((a, b) => (b.length > a.length ? b : a), '');
}
