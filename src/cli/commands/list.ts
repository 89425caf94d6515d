// `ca list`: the inventory of issued leaves, filtered by status or by how soon they expire.

import { parseDuration } from '../../config/duration.js';
import { CaError } from '../../errors.js';
import { table, type CommandOutput } from '../output.js';
import { certificateJson, statusOf, withLocalCa } from './shared.js';

export interface ListArgs {
  dir: string;
  status?: string;
  expiringWithin?: string;
}

const STATUSES = ['valid', 'revoked', 'expired'] as const;

export function list(args: ListArgs): CommandOutput {
  const status = args.status;
  if (status !== undefined && !(STATUSES as readonly string[]).includes(status)) {
    throw new CaError('ERR_USAGE', `cli: unknown status "${status}" (use valid, revoked or expired)`);
  }
  const expiringWithinSeconds = args.expiringWithin === undefined ? undefined : parseDuration(args.expiringWithin);
  return withLocalCa(args.dir, (ca) => {
    const now = new Date();
    const records = ca.store.list({ kind: 'leaf', status: status as (typeof STATUSES)[number] | undefined, expiringWithinSeconds, now });
    const data = records.map((r) => ({
      ...certificateJson(r),
      name: r.commonName,
      status: statusOf(r, now),
      revokedAt: r.revokedAt?.toISOString() ?? null,
      reason: r.reason,
    }));
    const human =
      data.length === 0
        ? 'no certificates match'
        : table(
            ['SERIAL', 'NAME', 'STATUS', 'NOT AFTER', 'IDENTITIES'],
            data.map((d) => [d.serial, d.name, d.status, d.notAfter, [d.spiffeId, ...d.dnsNames, ...d.ipAddresses].filter((n) => n !== null).join(',')]),
          );
    return { data, human };
  });
}
