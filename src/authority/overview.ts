// The fleet at a glance for operators: leaves by state, when they expire, the CA certificates and the CRLs published.

import type { Authority } from './authority.js';

const DAY = 86400;
/** Days the expiry timeline covers (a day per bar). */
export const TIMELINE_DAYS = 14;

export interface FleetOverview {
  readonly certificates: { readonly valid: number; readonly expiring24h: number; readonly expiring7d: number; readonly expired: number; readonly revoked: number };
  /** Valid leaves by the day (from now, in 24-hour steps) their notAfter falls in; the last bar holds all later ones. */
  readonly expiryTimeline: readonly { readonly from: string; readonly count: number }[];
  readonly ca: {
    readonly root: { readonly serial: string; readonly notAfter: string };
    readonly intermediates: readonly { readonly serial: string; readonly keyId: string; readonly notAfter: string; readonly signing: boolean }[];
  };
  readonly crls: readonly { readonly level: 'root' | 'intermediate'; readonly issuerKeyId: string; readonly number: string; readonly thisUpdate: string; readonly nextUpdate: string }[];
}

/** Counts on the notAfter index (a few dozen, however large the inventory), and what the authority holds. */
export async function fleetOverview(authority: Authority, options: { now: Date; excludeSpiffeId?: string }): Promise<FleetOverview> {
  const base = options.excludeSpiffeId === undefined ? {} : { excludeSpiffeId: options.excludeSpiffeId };
  const within = (seconds: number) => authority.count({ ...base, expiringWithinSeconds: seconds });
  const [valid, expiring24h, expiring7d, expired, revoked, cumulative, crls] = await Promise.all([
    authority.count({ ...base, status: 'valid' }),
    within(DAY),
    within(7 * DAY),
    authority.count({ ...base, status: 'expired' }),
    authority.count({ ...base, status: 'revoked' }),
    Promise.all(Array.from({ length: TIMELINE_DAYS - 1 }, (_, d) => within((d + 1) * DAY))),
    authority.publishedCrls(),
  ]);
  const now = options.now.getTime();
  const counts = [...cumulative, valid];
  const expiryTimeline = counts.map((c, d) => ({ from: new Date(now + d * DAY * 1000).toISOString(), count: c - (d === 0 ? 0 : counts[d - 1]!) }));
  const signing = authority.intermediate.keyIdHex;
  return {
    certificates: { valid, expiring24h, expiring7d, expired, revoked },
    expiryTimeline,
    ca: {
      root: { serial: authority.root.certificate.serial, notAfter: authority.root.notAfter.toISOString() },
      intermediates: authority.publishedIntermediates.map((i) => ({ serial: i.certificate.serial, keyId: i.keyIdHex, notAfter: i.notAfter.toISOString(), signing: i.keyIdHex === signing })),
    },
    crls: crls.map((c) => ({ level: c.level, issuerKeyId: c.issuerKeyId, number: c.number.toString(), thisUpdate: c.thisUpdate.toISOString(), nextUpdate: c.nextUpdate.toISOString() })),
  };
}
