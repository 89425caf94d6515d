// `ca acme eab create|list|revoke`: the external-account keys ACME clients bind their accounts with.

import { eabSealingKey, newEabCredentials, sealEabKey } from '../../acme/eab-keys.js';
import { auditSealKey } from '../../audit/audit-key.js';
import { parseScope } from '../../auth/scopes.js';
import { isReservedPattern } from '../../identity/reserved.js';
import { formatDuration, parseDuration } from '../../config/duration.js';
import { addSeconds, wholeSeconds } from '../../crypto/clock.js';
import { CaError } from '../../errors.js';
import { table, type CommandOutput } from '../output.js';
import { localActor, withLocalCa } from './shared.js';

/** Default and longest life of an EAB key: long enough to set a client up, short enough not to linger. */
const EAB_DEFAULT_SECONDS = 7 * 86400;
const EAB_MAX_SECONDS = 90 * 86400;

export function eabCreate(args: { dir: string; name: string; scope: string[]; expires?: string }): Promise<CommandOutput> {
  const seconds = args.expires === undefined ? EAB_DEFAULT_SECONDS : parseDuration(args.expires);
  if (seconds > EAB_MAX_SECONDS) throw new CaError('ERR_TTL_TOO_LONG', `cli: an external account key lives at most ${formatDuration(EAB_MAX_SECONDS)}`);
  if (!/^[\x21-\x7e]{1,64}$/.test(args.name)) throw new CaError('ERR_USAGE', 'cli: --name is 1 to 64 printable characters without spaces');
  const given = args.scope.flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  if (given.length === 0) throw new CaError('ERR_USAGE', 'cli: give at least one --scope issue:dns:PATTERN, issue:ip:CIDR or issue:spiffe:PATTERN');
  const scopes = given.map((s) => {
    const scope = parseScope(s);
    if (scope.kind !== 'issue') throw new CaError('ERR_SCOPE_INVALID', `cli: an ACME account can only be given issue: scopes (got "${s}")`);
    if (scope.pattern.kind === 'spiffe' && isReservedPattern(scope.pattern.text)) throw new CaError('ERR_SCOPE_INVALID', `cli: scope "${scope.text}" names only reserved identities (spiffe://TD/meshca/… belongs to meshca itself), which no account can obtain`);
    return scope.text;
  });
  return withLocalCa(args.dir, async (ca) => {
    const made = newEabCredentials();
    const now = wholeSeconds(new Date());
    const expiresAt = addSeconds(now, seconds);
    await ca.store.createEabKey(
      { kid: made.kid, name: args.name, scopes, sealedKey: sealEabKey(eabSealingKey(auditSealKey(ca.auditKey)), made.kid, made.hmacKey), createdAt: now, expiresAt, revokedAt: null, lastUsedAt: null },
      { at: now, actor: localActor(), action: 'acme-eab-create', target: made.kid, outcome: 'ok', detail: { name: args.name, scopes, expiresAt: expiresAt.toISOString() } },
    );
    const hmacKey = made.hmacKey.toString('base64url');
    return {
      data: { kid: made.kid, hmacKey, name: args.name, scopes, expiresAt: expiresAt.toISOString() },
      human: [`kid       ${made.kid}`, `hmac key  ${hmacKey}`].join('\n'),
      notes: [`shown once; valid until ${expiresAt.toISOString()}. certbot: --eab-kid ${made.kid} --eab-hmac-key <hmac key>; lego: --eab --kid ${made.kid} --hmac <hmac key>`],
    };
  });
}

export function eabList(args: { dir: string }): Promise<CommandOutput> {
  return withLocalCa(args.dir, async (ca) => {
    const now = new Date();
    const data = (await ca.store.listEabKeys()).map((k) => ({
      kid: k.kid,
      name: k.name,
      scopes: k.scopes,
      createdAt: k.createdAt.toISOString(),
      expiresAt: k.expiresAt.toISOString(),
      lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
      status: k.revokedAt !== null ? 'revoked' : k.expiresAt <= now ? 'expired' : 'active',
    }));
    const human = data.length === 0 ? 'no external account keys' : table(['NAME', 'KID', 'STATUS', 'EXPIRES', 'LAST USED', 'SCOPES'], data.map((k) => [k.name, k.kid, k.status, k.expiresAt, k.lastUsedAt ?? '-', k.scopes.join(' ')]));
    return { data, human };
  });
}

export function eabRevoke(args: { dir: string; name: string }): Promise<CommandOutput> {
  return withLocalCa(args.dir, async (ca) => {
    const now = wholeSeconds(new Date());
    const revoked = await ca.store.revokeEabKey(args.name, now, { at: now, actor: localActor(), action: 'acme-eab-revoke', target: `eab:${args.name}`, outcome: 'ok' });
    if (!revoked) throw new CaError('ERR_USAGE', `cli: no unrevoked external account key is named "${args.name}"`);
    return { data: { name: revoked.name, kid: revoked.kid, revokedAt: now.toISOString() }, human: `revoked external account key ${revoked.name} (${revoked.kid}): accounts bound with it can no longer order` };
  });
}
