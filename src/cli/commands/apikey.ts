// `ca apikey create|list|revoke`: scoped, expiring API keys for automation and operators.

import { apiKeyJson, createApiKey, rotateApiKey } from '../../auth/api-keys.js';
import { parseScope } from '../../auth/scopes.js';
import { parseDuration } from '../../config/duration.js';
import { systemClock } from '../../crypto/clock.js';
import { CaError } from '../../errors.js';
import { table, type CommandOutput } from '../output.js';
import { localActor, withLocalCa } from './shared.js';

export function apikeyCreate(args: { dir: string; name: string; scope: string[]; expires?: string }): Promise<CommandOutput> {
  const expiresInSeconds = args.expires === undefined ? undefined : parseDuration(args.expires);
  return withLocalCa(args.dir, async (ca) => {
    const given = args.scope.flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
    const { key, record } = await createApiKey(ca.store, systemClock, { name: args.name, scopes: given, expiresInSeconds, actor: localActor() });
    // An untyped scope is stored as the typed one it means: say which, since that may be narrower than expected.
    const notes = given.filter((g) => !record.scopes.includes(g)).map((g) => `scope "${g}" is stored as "${parseScope(g).text}"`);
    return { data: { key, name: record.name, id: record.id, scopes: record.scopes, expiresAt: record.expiresAt.toISOString() }, human: key, notes };
  });
}

export function apikeyList(args: { dir: string }): Promise<CommandOutput> {
  return withLocalCa(args.dir, async (ca) => {
    const now = new Date();
    const data = (await ca.store.listApiKeys()).map((k) => apiKeyJson(k, now));
    const human = data.length === 0 ? 'no API keys' : table(['NAME', 'ID', 'STATUS', 'EXPIRES', 'LAST USED', 'SCOPES'], data.map((k) => [k.name, k.id, 'validUntil' in k ? `${k.status} (valid until ${k.validUntil})` : k.status, k.expiresAt, k.lastUsedAt ?? '-', k.scopes.join(' ')]));
    return { data, human };
  });
}

export function apikeyRotate(args: { dir: string; name: string; grace?: string; expires?: string }): Promise<CommandOutput> {
  const graceSeconds = args.grace === undefined ? undefined : parseDuration(args.grace);
  const expiresInSeconds = args.expires === undefined ? undefined : parseDuration(args.expires);
  return withLocalCa(args.dir, async (ca) => {
    const { key, record, previous } = await rotateApiKey(ca.store, systemClock, { name: args.name, graceSeconds, expiresInSeconds, actor: localActor() });
    const validUntil = previous.revokedAt!.toISOString();
    return {
      data: { key, name: record.name, id: record.id, scopes: record.scopes, expiresAt: record.expiresAt.toISOString(), previous: { id: previous.id, validUntil } },
      human: key,
      notes: [`the previous key ${previous.id} keeps working until ${validUntil}: hand the new one (printed on stdout) to its holders before then`],
    };
  });
}

export function apikeyRevoke(args: { dir: string; name: string }): Promise<CommandOutput> {
  return withLocalCa(args.dir, async (ca) => {
    const now = new Date();
    const revoked = await ca.store.revokeApiKey(args.name, now, { at: now, actor: localActor(), action: 'apikey-revoke', target: `apikey:${args.name}`, outcome: 'ok' });
    if (!revoked) throw new CaError('ERR_APIKEY_NOT_FOUND', `cli: no active API key is named "${args.name}"`);
    return { data: { name: revoked.name, id: revoked.id, revokedAt: revoked.revokedAt!.toISOString() }, human: `revoked API key ${revoked.name} (${revoked.id})` };
  });
}
