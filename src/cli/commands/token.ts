// `ca token`: mint a single-use enrollment token for a service's first certificate; prints only the token.

import { createEnrollmentToken, enrollmentGrant, TOKEN_DEFAULT_SECONDS } from '../../auth/enrollment-token.js';
import { parseDuration } from '../../config/duration.js';
import { systemClock } from '../../crypto/clock.js';
import type { CommandOutput } from '../output.js';
import { localActor, withLocalCa } from './shared.js';

export interface TokenArgs {
  name: string;
  dir: string;
  spiffeId?: string;
  dns: string[];
  ip: string[];
  ttl?: string;
  certTtl?: string;
  passphrase: string | undefined;
}

export async function token(args: TokenArgs): Promise<CommandOutput> {
  const lifetime = args.ttl === undefined ? TOKEN_DEFAULT_SECONDS : parseDuration(args.ttl);
  const certTtlSeconds = args.certTtl === undefined ? undefined : parseDuration(args.certTtl);
  const ca = await withLocalCa(args.dir, async (ca) => ({ config: ca.directory.config, key: await ca.tokenKey(args.passphrase) }));
  const c = ca.config;
  const grant = enrollmentGrant(c, { name: args.name, spiffeId: args.spiffeId, dnsNames: args.dns, ipAddresses: args.ip, certTtlSeconds });
  const minted = await createEnrollmentToken(ca.key, systemClock, c.trustDomain, grant, lifetime);
  await withLocalCa(args.dir, (local) =>
    local.store.appendAudit({ at: new Date(), actor: localActor(), action: 'token-create', target: `token:${minted.jti}`, outcome: 'ok', detail: { name: grant.name, spiffeId: grant.spiffeId, dnsNames: grant.dnsNames, ipAddresses: grant.ipAddresses, expiresAt: minted.expiresAt.toISOString() } }),
  );
  return { data: { token: minted.token, jti: minted.jti, expiresAt: minted.expiresAt.toISOString() }, human: minted.token };
}
