// The CA's configuration file (config.json in the CA directory): its shape, defaults and validation.

import { isIP } from 'node:net';
import { CaError } from '../errors.js';
import { parseScope } from '../auth/scopes.js';
import { parseIdentityPattern, type IdentityPattern } from '../identity/pattern.js';
import { parseKeyType, type KeyType } from '../crypto/keys.js';
import { parseTrustDomain, type TrustDomain } from '../identity/spiffe.js';
import { isPlainText } from '../identity/text.js';
import { parseDuration } from './duration.js';

export const CONFIG_VERSION = 1;

/** config.json as stored: durations as text so operators can edit them. */
export interface CaConfigFile {
  version: number;
  name: string;
  trustDomain: string;
  keyType: KeyType;
  publicUrl: string;
  defaultTtl: string;
  maxTtl: string;
  crlValidity: string;
  crlRetention: string;
  allowWildcards: boolean;
  encryptedKeys: boolean;
  /** How long after a leaf's first renewal a repeat renewal is accepted (optional; default 5m). */
  renewalGrace?: string;
  /** How long each intermediate lives, at init and at each rotation (optional; default 365d). */
  intermediateLifetime?: string;
  /** How long the root's CRL is valid: it is re-signed only at rotations and by hand (optional; default 400d). */
  rootCrlValidity?: string;
  /**
   * How long a new intermediate is published (trust bundle, CRLs) before it signs leaves, so every relying party
   * has its CRL before it meets a leaf of it (optional; default 10m, twice meshca/tls's trust refresh).
   */
  rotationLead?: string;
  /**
   * A PostgreSQL URL (`postgres://user@host:port/db`) when the CA's data lives there, shared by replicas; absent for
   * the embedded SQLite database (ca.db). `MESHCA_DATABASE_URL` overrides it, e.g. to keep the password out of this file.
   */
  database?: string;
  /**
   * ACME challenge validation: names mapped to the addresses the CA connects to (`resolve`), and the ports it asks
   * (`ports.http01`, default 80; `ports.tlsAlpn01`, default 443). Optional.
   */
  acme?: { resolve?: Record<string, string>; ports?: { http01?: number; tlsAlpn01?: number } };
  /**
   * Operators who sign in to the API and dashboard with a client certificate this CA issued: a SPIFFE ID pattern
   * and the scopes a current, unrevoked certificate under it holds (`[{"spiffeId": "spiffe://TD/operators/*",
   * "scopes": ["list", "audit"]}]`). Optional; none by default.
   */
  operators?: { spiffeId: string; scopes: string[] }[];
}

/** The configuration, parsed. */
export interface CaConfig {
  readonly name: string;
  readonly trustDomain: TrustDomain;
  readonly keyType: KeyType;
  readonly publicUrl: string;
  readonly defaultTtlSeconds: number;
  readonly maxTtlSeconds: number;
  readonly crlValiditySeconds: number;
  readonly crlRetentionSeconds: number;
  readonly allowWildcards: boolean;
  readonly encryptedKeys: boolean;
  readonly renewalGraceSeconds: number;
  readonly intermediateLifetimeSeconds: number;
  readonly rootCrlValiditySeconds: number;
  readonly rotationLeadSeconds: number;
  /** The PostgreSQL URL as config.json gives it, or undefined for SQLite. */
  readonly database: string | undefined;
  /** Where ACME validation connects (see CaConfigFile.acme). */
  readonly acmeValidation: { readonly resolve: Readonly<Record<string, string>>; readonly ports: { readonly http01: number; readonly tlsAlpn01: number } };
  /** Operator certificates: a SPIFFE ID pattern and the scopes it grants (see CaConfigFile.operators). */
  readonly operators: readonly OperatorGrant[];
}

export interface OperatorGrant {
  readonly pattern: IdentityPattern;
  readonly scopes: readonly string[];
}

export const CONFIG_DEFAULTS = {
  keyType: 'ec-p256',
  publicUrl: 'http://127.0.0.1:8080',
  defaultTtl: '24h',
  maxTtl: '7d',
  crlValidity: '24h',
  crlRetention: '7d',
  renewalGrace: '5m',
  intermediateLifetime: '365d',
  rootCrlValidity: '400d',
  rotationLead: '10m',
} as const;

/** Checks a CA name: it becomes `O=` and part of `CN=... Root CA`, so at most 50 characters of plain text. */
export function parseCaName(name: string): string {
  if (name.trim() !== name || name.length === 0 || name.length > 50 || !isPlainText(name)) {
    throw new CaError('ERR_CONFIG_INVALID', 'config: the CA name must be 1-50 characters without control, bidi or invisible characters or surrounding spaces');
  }
  return name;
}

/** Checks the public base URL written into certificates: http(s), no query or fragment. */
export function parsePublicUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CaError('ERR_CONFIG_INVALID', `config: public URL "${text}" is not a URL`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash || url.username || url.password) {
    throw new CaError('ERR_CONFIG_INVALID', `config: public URL "${text}" must be http(s)://host[:port][/path] without query, fragment or credentials`);
  }
  return url.href.replace(/\/+$/, '');
}

/** Checks a PostgreSQL URL: postgres:// or postgresql://, a host and a database name. Messages never repeat a password. */
export function parseDatabaseUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CaError('ERR_CONFIG_INVALID', 'config: the database URL is not a URL (postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE)');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new CaError('ERR_CONFIG_INVALID', `config: the database URL must start with postgres:// (got ${url.protocol}//…); SQLite needs no URL`);
  }
  if (url.hostname === '' || url.pathname.length < 2) throw new CaError('ERR_CONFIG_INVALID', `config: the database URL ${redactDatabaseUrl(text)} needs a host and a database name`);
  return text;
}

/**
 * The database URL to write into config.json: without its password, which each replica gets from
 * MESHCA_DATABASE_URL or PGPASSWORD instead (config.json is copied to every replica); whether there was one.
 */
export function storableDatabaseUrl(text: string): { url: string; hadPassword: boolean } {
  const url = new URL(text);
  const secrets = SECRET_PARAMETERS.filter((p) => url.searchParams.has(p));
  if (url.password === '' && secrets.length === 0) return { url: text, hadPassword: false };
  url.password = '';
  for (const p of secrets) url.searchParams.delete(p);
  return { url: url.href, hadPassword: true };
}

/** Query parameters of a PostgreSQL URL that carry a secret (libpq's and the postgres client's names). */
const SECRET_PARAMETERS = ['password', 'sslpassword', 'pass'];

/** A database URL safe to print: the password, if any, replaced by `***`. */
export function redactDatabaseUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.password !== '') url.password = '***';
    for (const p of SECRET_PARAMETERS) if (url.searchParams.has(p)) url.searchParams.set(p, '***');
    return url.href.replaceAll('%2A%2A%2A', '***');
  } catch {
    return 'postgres://(unreadable URL)';
  }
}

/** Validates config.json's content, naming the field that is wrong. */
function acmeValidation(raw: unknown, fail: (why: string) => never): CaConfig['acmeValidation'] {
  if (raw === undefined) return { resolve: {}, ports: { http01: 80, tlsAlpn01: 443 } };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail('"acme" must be an object');
  const a = raw as { resolve?: unknown; ports?: unknown };
  const resolve: Record<string, string> = {};
  if (a.resolve !== undefined) {
    if (typeof a.resolve !== 'object' || a.resolve === null) return fail('"acme.resolve" maps names to addresses');
    for (const [name, address] of Object.entries(a.resolve)) {
      if (typeof address !== 'string' || isIP(address) === 0) return fail(`"acme.resolve": ${JSON.stringify(name)} must map to an IP address`);
      resolve[name.toLowerCase()] = address;
    }
  }
  const ports = (a.ports ?? {}) as { http01?: unknown; tlsAlpn01?: unknown };
  const port = (v: unknown, fallback: number, what: string): number => (v === undefined ? fallback : Number.isInteger(v) && (v as number) > 0 && (v as number) < 65536 ? (v as number) : fail(`"acme.ports.${what}" must be a port number`));
  return { resolve, ports: { http01: port(ports.http01, 80, 'http01'), tlsAlpn01: port(ports.tlsAlpn01, 443, 'tlsAlpn01') } };
}

function operators(raw: unknown, trustDomain: string, fail: (why: string) => never): OperatorGrant[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) return fail('"operators" is a list of {spiffeId, scopes}');
  return raw.map((o: unknown, i) => {
    const entry = o as { spiffeId?: unknown; scopes?: unknown } | null;
    if (typeof entry !== 'object' || entry === null || typeof entry.spiffeId !== 'string' || !Array.isArray(entry.scopes) || entry.scopes.length === 0 || !entry.scopes.every((s) => typeof s === 'string')) {
      return fail(`"operators[${i}]" is {"spiffeId": "spiffe://${trustDomain}/operators/*", "scopes": ["list", ...]}`);
    }
    try {
      const pattern = parseIdentityPattern('spiffe', entry.spiffeId);
      if (!entry.spiffeId.startsWith(`spiffe://${trustDomain}/`)) throw new Error(`it must name SPIFFE IDs in this CA's trust domain (spiffe://${trustDomain}/...)`);
      return { pattern, scopes: (entry.scopes as string[]).map((s) => parseScope(s).text) };
    } catch (e) {
      return fail(`"operators[${i}]": ${(e as Error).message.replace(/^\w+: /, '')}`);
    }
  });
}

export function parseCaConfig(raw: unknown, source: string): CaConfig {
  const fail = (why: string): never => {
    throw new CaError('ERR_CONFIG_INVALID', `config: ${source}: ${why}`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('not a JSON object');
  const c = raw as Record<string, unknown>;
  if (c.version !== CONFIG_VERSION) fail(`unsupported version ${JSON.stringify(c.version)} (expected ${CONFIG_VERSION})`);
  const str = (key: keyof CaConfigFile): string => (typeof c[key] === 'string' ? (c[key] as string) : fail(`"${key}" must be a string`));
  const flag = (key: keyof CaConfigFile): boolean => (typeof c[key] === 'boolean' ? (c[key] as boolean) : fail(`"${key}" must be true or false`));
  const duration = (key: keyof CaConfigFile): number => {
    try {
      return parseDuration(str(key));
    } catch (e) {
      return fail(`"${key}": ${(e as Error).message.replace(/^config: /, '')}`);
    }
  };
  const within = <T>(key: string, fn: () => T): T => {
    try {
      return fn();
    } catch (e) {
      return fail(`"${key}": ${(e as Error).message.replace(/^\w+: /, '')}`);
    }
  };
  const config: CaConfig = {
    name: within('name', () => parseCaName(str('name'))),
    trustDomain: within('trustDomain', () => parseTrustDomain(str('trustDomain'))),
    keyType: within('keyType', () => parseKeyType(str('keyType'))),
    publicUrl: within('publicUrl', () => parsePublicUrl(str('publicUrl'))),
    defaultTtlSeconds: duration('defaultTtl'),
    maxTtlSeconds: duration('maxTtl'),
    crlValiditySeconds: duration('crlValidity'),
    crlRetentionSeconds: duration('crlRetention'),
    allowWildcards: flag('allowWildcards'),
    encryptedKeys: flag('encryptedKeys'),
    renewalGraceSeconds: c.renewalGrace === undefined ? parseDuration(CONFIG_DEFAULTS.renewalGrace) : duration('renewalGrace'),
    intermediateLifetimeSeconds: c.intermediateLifetime === undefined ? parseDuration(CONFIG_DEFAULTS.intermediateLifetime) : duration('intermediateLifetime'),
    rootCrlValiditySeconds: c.rootCrlValidity === undefined ? parseDuration(CONFIG_DEFAULTS.rootCrlValidity) : duration('rootCrlValidity'),
    rotationLeadSeconds: c.rotationLead === undefined ? parseDuration(CONFIG_DEFAULTS.rotationLead) : duration('rotationLead'),
    database: c.database === undefined ? undefined : within('database', () => parseDatabaseUrl(str('database'))),
    acmeValidation: acmeValidation(c.acme, fail),
    operators: operators(c.operators, typeof c.trustDomain === 'string' ? c.trustDomain : '', fail),
  };
  if (config.defaultTtlSeconds > config.maxTtlSeconds) fail('"defaultTtl" is longer than "maxTtl"');
  return config;
}
