// SPIFFE IDs and trust domains as value types: the only way to get one is to parse it.

import { CaError } from '../errors.js';

declare const trustDomainBrand: unique symbol;
declare const spiffeIdBrand: unique symbol;

/** A SPIFFE trust domain name, e.g. `acme.internal`. Made only by {@link parseTrustDomain}. */
export type TrustDomain = string & { readonly [trustDomainBrand]: true };

/** A workload SPIFFE ID, e.g. `spiffe://acme.internal/ns/prod/sa/api`. Made only by {@link parseSpiffeId}. */
export interface SpiffeId {
  readonly [spiffeIdBrand]: true;
  readonly trustDomain: TrustDomain;
  /** The path, starting with `/`. */
  readonly path: string;
  /** The whole ID, as written into a certificate's URI SAN. */
  readonly uri: string;
}

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;
/** The SPIFFE spec caps a SPIFFE ID at 2048 bytes; a trust domain at 255 characters. */
const MAX_ID_BYTES = 2048;

/**
 * Parses a trust domain name per the SPIFFE ID spec §2.1: lowercase letters, digits, `.`, `-`, `_`.
 *
 * @example
 * parseTrustDomain('acme.internal')
 */
export function parseTrustDomain(text: string): TrustDomain {
  if (text.length === 0 || text.length > 255 || !TRUST_DOMAIN.test(text)) {
    throw new CaError('ERR_TRUST_DOMAIN_INVALID', `identity: "${text}" is not a valid trust domain (lowercase letters, digits, '.', '-', '_')`);
  }
  return text as TrustDomain;
}

/**
 * Parses a workload SPIFFE ID (`spiffe://DOMAIN/path`): no query, fragment, userinfo or port; a non-empty
 * path of segments made of letters, digits, `.`, `-`, `_`, none of them empty, `.` or `..`.
 *
 * @example
 * const id = parseSpiffeId('spiffe://acme.internal/ns/prod/sa/api'); id.trustDomain // 'acme.internal'
 */
export function parseSpiffeId(text: string): SpiffeId {
  const fail = (why: string): never => {
    throw new CaError('ERR_SPIFFE_ID_INVALID', `identity: "${text}" is not a valid SPIFFE ID: ${why}`);
  };
  if (Buffer.byteLength(text) > MAX_ID_BYTES) fail('longer than 2048 bytes');
  if (!text.startsWith('spiffe://')) fail('it must start with spiffe://');
  const rest = text.slice('spiffe://'.length);
  if (/[?#]/.test(rest)) fail('query and fragment are not allowed');
  const slash = rest.indexOf('/');
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  if (authority.includes('@')) fail('userinfo is not allowed');
  if (authority.includes(':')) fail('a port is not allowed');
  if (authority === '') fail('the trust domain is missing');
  if (!TRUST_DOMAIN.test(authority) || authority.length > 255) fail('the trust domain may hold only lowercase letters, digits, ".", "-" and "_"');
  if (path === '') fail('a workload ID needs a path (spiffe://DOMAIN/path)');
  for (const segment of path.slice(1).split('/')) {
    if (segment === '') fail('empty path segments and trailing slashes are not allowed');
    if (segment === '.' || segment === '..') fail('"." and ".." path segments are not allowed');
    if (!SEGMENT.test(segment)) fail(`path segment "${segment}" may hold only letters, digits, ".", "-" and "_"`);
  }
  return { trustDomain: authority as TrustDomain, path, uri: text } as SpiffeId;
}

/** Parses a SPIFFE ID and requires it to be in `trustDomain`. */
export function parseSpiffeIdIn(text: string, trustDomain: TrustDomain): SpiffeId {
  const id = parseSpiffeId(text);
  if (id.trustDomain !== trustDomain) {
    throw new CaError('ERR_SPIFFE_ID_FOREIGN_TRUST_DOMAIN', `identity: ${text} is outside this CA's trust domain ${trustDomain}`);
  }
  return id;
}
