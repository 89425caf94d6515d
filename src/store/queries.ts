// The certificate inventory's filters as SQL, written once for both stores (which differ only in placeholders).

import type { CertificateQuery } from '../authority/ports.js';
import { toSeconds } from './rows.js';

/** Revoked entries read per page while building a CRL (~10 ms of work each). */
export const CRL_PAGE = 10_000;

/** Values bound per lookup by a list of serials or key hashes (well under SQLite's bound-parameter limit). */
export const LOOKUP_CHUNK = 500;

/** `values` (deduplicated, order kept) in slices of at most `size`. */
export function chunked<T>(values: readonly T[], size: number = LOOKUP_CHUNK): T[][] {
  const unique = [...new Set(values)];
  const out: T[][] = [];
  for (let i = 0; i < unique.length; i += size) out.push(unique.slice(i, i + size));
  return out;
}

/**
 * The WHERE clause (or '') and its parameters for `query`; `placeholder(n)` writes the n-th parameter (`?` for
 * SQLite, `$n` for PostgreSQL).
 */
export function certificateFilter(query: CertificateQuery, placeholder: (n: number) => string): { where: string; params: (string | number)[] } {
  const where: string[] = [];
  const params: (string | number)[] = [];
  const param = (value: string | number): string => {
    params.push(value);
    return placeholder(params.length);
  };
  const now = toSeconds(query.now);
  if (query.kind) where.push(`kind = ${param(query.kind)}`);
  if (query.status === 'revoked') where.push('revoked_at IS NOT NULL');
  if (query.status === 'expired') where.push(`revoked_at IS NULL AND not_after <= ${param(now)}`);
  if (query.status === 'valid' || query.expiringWithinSeconds !== undefined) where.push(`revoked_at IS NULL AND not_after > ${param(now)}`);
  if (query.expiringWithinSeconds !== undefined) where.push(`not_after <= ${param(now + query.expiringWithinSeconds)}`);
  if (query.excludeSpiffeId !== undefined) where.push(`(spiffe_id IS NULL OR spiffe_id <> ${param(query.excludeSpiffeId)})`);
  if (query.identityContains !== undefined) {
    const column = { spiffe: 'spiffe_id', dns: 'dns_names', ip: 'ip_addresses' }[query.identityContains.kind];
    where.push(`${column} LIKE ${param(`%${query.identityContains.text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`)} ESCAPE '\\'`);
  }
  if (query.issuedBefore !== undefined) where.push(`issued_at < ${param(toSeconds(query.issuedBefore))}`);
  if (query.after !== undefined) {
    const notAfter = toSeconds(query.after.notAfter);
    const beyond = query.descending ? '<' : '>';
    where.push(`(not_after ${beyond} ${param(notAfter)} OR (not_after = ${param(notAfter)} AND serial ${beyond} ${param(query.after.serial)}))`);
  }
  return { where: where.length > 0 ? `WHERE ${where.join(' AND ')}` : '', params };
}

/** The ORDER BY of a certificate listing: by notAfter then serial, soonest first unless `descending`. */
export function certificateOrder(query: Pick<CertificateQuery, 'descending'>): string {
  return query.descending ? 'ORDER BY not_after DESC, serial DESC' : 'ORDER BY not_after, serial';
}
