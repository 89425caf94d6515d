// `ca list`: the inventory of issued leaves (local directory or remote CA) with their lineage, filtered by status or by how soon they expire.

import { parseDuration } from '../../config/duration.js';
import { CaError } from '../../errors.js';
import { table, type CommandOutput } from '../output.js';
import { connect, type RemoteArgs } from './remote.js';
import { inventoryEntry } from '../../authority/describe.js';
import { withLocalCa } from './shared.js';
import { caServiceSpiffeId } from '../../identity/reserved.js';
import { identitiesOf, identityQuery, parseIdentityFilter } from '../../auth/scopes.js';
import { findMatching } from '../../authority/inventory.js';

export interface ListArgs {
  dir: string;
  status?: string;
  expiringWithin?: string;
  /** Include the CA service's own certificates. */
  all?: boolean;
  /** Only certificates with an identity this pattern matches. */
  identity?: string;
}

const STATUSES = ['valid', 'revoked', 'expired'] as const;

function checkStatus(status: string | undefined): void {
  if (status !== undefined && !(STATUSES as readonly string[]).includes(status)) {
    throw new CaError('ERR_USAGE', `cli: unknown status "${status}" (use valid, revoked or expired)`);
  }
}

export function list(args: ListArgs): Promise<CommandOutput> {
  const status = args.status;
  checkStatus(status);
  const expiringWithinSeconds = args.expiringWithin === undefined ? undefined : parseDuration(args.expiringWithin);
  return withLocalCa(args.dir, async (ca) => {
    const now = new Date();
    const service = caServiceSpiffeId(ca.directory.config.trustDomain);
    const pattern = args.identity === undefined ? undefined : parseIdentityFilter(args.identity);
    const query = { kind: 'leaf' as const, status: status as (typeof STATUSES)[number] | undefined, expiringWithinSeconds, ...(args.all ? {} : { excludeSpiffeId: service }) };
    const records = pattern === undefined
      ? await ca.store.list({ ...query, now })
      : await findMatching(ca.store, { ...identityQuery(query, pattern), now }, (r) => identitiesOf(r).some((i) => pattern.matches(i)), Number.MAX_SAFE_INTEGER);
    const renewedTo = await ca.store.successorsOf(records.map((r) => r.serial));
    const data = records.map((r) => ({ ...(r.spiffeId === service ? { caService: true } : {}), ...inventoryEntry(r, now, renewedTo.get(r.serial) ?? []) }));
    return { data, human: render(data) };
  });
}

type ListedCertificate = ReturnType<typeof inventoryEntry> & { caService?: boolean };

/** A certificate's place in its lineage, for the table: what it renewed and what renewed it. */
function lineage(d: Pick<ListedCertificate, 'renewedFrom' | 'renewedTo'>): string {
  return [...(d.renewedFrom ? [`from ${d.renewedFrom}`] : []), ...(d.renewedTo.length > 0 ? [`to ${d.renewedTo.join(',')}`] : [])].join('; ');
}

function render(data: readonly ListedCertificate[]): string {
  return data.length === 0
    ? 'no certificates match'
    : table(
        ['SERIAL', 'NAME', 'STATUS', 'NOT AFTER', 'IDENTITIES', 'REQUESTED BY', 'LINEAGE'],
        data.map((d) => [d.serial, d.name, d.status, d.notAfter, [d.spiffeId, ...d.dnsNames, ...d.ipAddresses].filter((n) => n !== null).join(','), d.requestedBy ?? '-', lineage(d)]),
      );
}

/** `ca list --ca-url`: the inventory from a running CA (API key with the list scope). */
export async function listRemote(args: ListArgs & RemoteArgs & { apiKey?: string }): Promise<CommandOutput> {
  if (args.apiKey === undefined) throw new CaError('ERR_USAGE', 'cli: with --ca-url, give an API key with the list scope: --api-key-file F or $MESHCA_API_KEY');
  checkStatus(args.status);
  const query = new URLSearchParams();
  if (args.status) query.set('status', args.status);
  if (args.expiringWithin) query.set('expiringWithin', args.expiringWithin);
  if (args.all) query.set('all', 'true');
  if (args.identity !== undefined) query.set('identity', args.identity);
  const q = query.toString();
  const r = await connect(args).call<{ certificates: ListedCertificate[] }>('GET', `/v1/certificates${q ? `?${q}` : ''}`, { bearer: args.apiKey });
  const data = r.certificates.map(({ serial, notBefore, notAfter, spiffeId, dnsNames, ipAddresses, name, status, revokedAt, reason, renewedFrom, renewedTo, requestedBy, caService }) => ({ ...(caService ? { caService: true } : {}), serial, notBefore, notAfter, spiffeId, dnsNames, ipAddresses, name, status, revokedAt, reason, renewedFrom: renewedFrom ?? null, renewedTo: renewedTo ?? [], requestedBy: requestedBy ?? null }));
  return { data, human: render(data) };
}
