// `ca token`: mint a single-use enrollment token for a service's first certificate; prints only the token.

import { createEnrollmentToken, TOKEN_DEFAULT_SECONDS } from '../../auth/enrollment-token.js';
import { parseDuration } from '../../config/duration.js';
import { systemClock } from '../../crypto/clock.js';
import { parseDnsName, parseIpAddress } from '../../identity/names.js';
import { isReservedSpiffeId } from '../../identity/reserved.js';
import { parseSpiffeIdIn } from '../../identity/spiffe.js';
import { plainText } from '../../identity/text.js';
import { CaError } from '../../errors.js';
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
  // Refuse now what the CA would refuse at enrollment, so a token is never minted for names it cannot get.
  plainText(args.name, 'the certificate name', 64);
  const id = args.spiffeId === undefined ? undefined : parseSpiffeIdIn(args.spiffeId, c.trustDomain);
  if (id && isReservedSpiffeId(id)) throw new CaError('ERR_IDENTITY_RESERVED', `cli: ${id.uri} is reserved for meshca itself and cannot be granted`);
  const spiffeId = id?.uri;
  const dnsNames = args.dns.map((d) => parseDnsName(d, { allowWildcards: c.allowWildcards }));
  const ipAddresses = args.ip.map((ip) => parseIpAddress(ip).text);
  if (!spiffeId && dnsNames.length === 0 && ipAddresses.length === 0) throw new CaError('ERR_NAME_REQUIRED', 'cli: a token must grant at least one identity (--spiffe-id, --dns or --ip)');
  if (certTtlSeconds !== undefined && certTtlSeconds > c.maxTtlSeconds) throw new CaError('ERR_TTL_TOO_LONG', "cli: --cert-ttl exceeds this CA's maximum TTL");
  // The certificate lifetime is written into every token: it is the most an enrollment may ask for.
  const minted = await createEnrollmentToken(ca.key, systemClock, c.trustDomain, { name: args.name, spiffeId, dnsNames, ipAddresses, certTtlSeconds: certTtlSeconds ?? c.defaultTtlSeconds }, lifetime);
  await withLocalCa(args.dir, (local) =>
    local.store.appendAudit({ at: new Date(), actor: localActor(), action: 'token-create', target: `token:${minted.jti}`, outcome: 'ok', detail: { name: args.name, spiffeId, dnsNames, ipAddresses, expiresAt: minted.expiresAt.toISOString() } }),
  );
  return { data: { token: minted.token, jti: minted.jti, expiresAt: minted.expiresAt.toISOString() }, human: minted.token };
}
