// `ca revoke`: record a leaf's revocation, by serial or by certificate file, or a lineage's or an identity's (--lineage, --identity).

import { parseIdentityFilter } from '../../auth/scopes.js';
import { massRevocationJson, type MassRevocationJson, type SelectedCertificate } from '../../authority/mass-revocation.js';
import { isPem, readPemLabelled } from '../../crypto/pem.js';
import { CaError } from '../../errors.js';
import { normalizeSerial } from '../../crypto/serial.js';
import { readCertificate } from '../../pki/certificate.js';
import { parseRevocationReason } from '../../revocation/reasons.js';
import { readInputFile } from '../io.js';
import type { CommandOutput } from '../output.js';
import { connect, type RemoteArgs } from './remote.js';
import { localActor, withLocalCa } from './shared.js';

export interface RevokeArgs {
  serial?: string;
  cert?: string;
  dir: string;
  reason?: string;
  passphrase: string | undefined;
  /** Revoke this serial's lineage (renewals, rekeys, same key) instead of one certificate. */
  lineage?: string;
  /** Revoke every unexpired certificate with an identity this pattern matches. */
  identity?: string;
  /** With --lineage or --identity: say what would be revoked, change nothing. */
  dryRun?: boolean;
}

/** What a keyCompromise revocation did beyond the one serial. */
function keyLines(r: { alsoRevoked: readonly string[]; keyBlocked: boolean }): string[] {
  if (!r.keyBlocked) return [];
  return [`its key is blocked: no certificate will be issued or renewed for it again`, ...(r.alsoRevoked.length > 0 ? [`also revoked (same key): ${r.alsoRevoked.join(', ')}`] : [])];
}

/** A SERIAL argument that is not one is a usage error (exit 2), like any other malformed argument. */
export function notASerial(text: string): CaError {
  return new CaError('ERR_USAGE', `cli: "${text.slice(0, 80)}" is not a serial number (hex digits, with or without colons)`);
}

/** The serial of the first certificate in a PEM or DER file. */
function serialFromFile(path: string): string {
  const data = readInputFile(path, 'certificate');
  const der = isPem(data) ? readPemLabelled(data.toString('latin1'), ['CERTIFICATE'], 'certificate file')[0]! : data;
  return readCertificate(der).serial;
}

export function revoke(args: RevokeArgs): Promise<CommandOutput> {
  if (selectsMany(args)) return revokeManyLocal(args);
  if ((args.serial === undefined) === (args.cert === undefined)) throw new CaError('ERR_USAGE', 'cli: give either a SERIAL or --cert FILE');
  if (args.serial !== undefined && normalizeSerial(args.serial) === null) throw notASerial(args.serial);
  const reason = parseRevocationReason(args.reason ?? 'unspecified');
  const serial = args.serial ?? serialFromFile(args.cert!);
  return withLocalCa(args.dir, async (ca) => {
    const outcome = await (await ca.authority(args.passphrase)).revoke(serial, reason, { actor: localActor() });
    const r = outcome.record;
    const data = { serial: r.serial, revokedAt: r.revokedAt!.toISOString(), reason: r.reason, alreadyRevoked: outcome.result === 'already-revoked', alsoRevoked: outcome.alsoRevoked, keyBlocked: outcome.keyBlocked };
    const human = [
      data.alreadyRevoked ? `${r.serial} was already revoked at ${data.revokedAt} (${r.reason})` : `revoked ${r.serial} (${r.commonName}, reason ${r.reason})`,
      ...keyLines(data),
      data.alreadyRevoked && !data.keyBlocked ? 'nothing changed' : 'a `ca serve` running on this directory publishes it (CRL and OCSP) within a second; without one, sign fresh CRLs with `ca crl`',
    ].join('\n');
    return { data, human };
  });
}

export interface RemoteRevokeArgs extends RemoteArgs {
  serial?: string;
  cert?: string;
  key?: string;
  apiKey?: string;
  reason?: string;
  lineage?: string;
  identity?: string;
  dryRun?: boolean;
}

/** `ca revoke --ca-url`: with an API key (scope revoke), or as the holder of the certificate (mTLS with --cert and --key). */
export async function revokeRemote(args: RemoteRevokeArgs): Promise<CommandOutput> {
  if (selectsMany(args)) return revokeManyRemote(args);
  const reason = parseRevocationReason(args.reason ?? 'unspecified');
  const selfRevoke = args.apiKey === undefined && args.cert !== undefined && args.key !== undefined;
  if (!selfRevoke && args.apiKey === undefined) throw new CaError('ERR_USAGE', 'cli: with --ca-url, revoke with an API key (--api-key-file F or $MESHCA_API_KEY), or revoke your own certificate with --cert F --key F');
  if (!selfRevoke && (args.serial === undefined) === (args.cert === undefined)) throw new CaError('ERR_USAGE', 'cli: give either a SERIAL or --cert FILE');
  if (args.serial !== undefined && normalizeSerial(args.serial) === null) throw notASerial(args.serial);
  const serial = args.serial ?? serialFromFile(args.cert!);
  const credential = selfRevoke
    ? { cert: readInputFile(args.cert!, 'certificate').toString('utf8'), key: readInputFile(args.key!, 'key').toString('utf8') }
    : { bearer: args.apiKey! };
  const r = await connect(args).call<{ serial: string; revokedAt: string; reason: string; alreadyRevoked: boolean; alsoRevoked: string[]; keyBlocked: boolean }>('POST', `/v1/certificates/${encodeURIComponent(serial)}/revoke`, credential, { reason });
  const human = [
    r.alreadyRevoked ? `${r.serial} was already revoked at ${r.revokedAt} (${r.reason})` : `revoked ${r.serial} (reason ${r.reason})`,
    ...keyLines({ alsoRevoked: r.alsoRevoked ?? [], keyBlocked: r.keyBlocked ?? false }),
    ...(r.alreadyRevoked && !r.keyBlocked ? ['nothing changed'] : []),
  ].join('\n');
  return { data: r, human };
}

/** A certificate a lineage or identity revocation selected, as `--json` and the API give it. */
type Selected = SelectedCertificate;
type ManyRevoked = MassRevocationJson;

/** True for --lineage or --identity (after checking they come alone: not with each other, a SERIAL or --cert). */
function selectsMany(args: { serial?: string; cert?: string; key?: string; lineage?: string; identity?: string; dryRun?: boolean }): boolean {
  const given = [args.lineage !== undefined && '--lineage', args.identity !== undefined && '--identity', args.serial !== undefined && 'SERIAL', args.cert !== undefined && '--cert'].filter((g) => g !== false);
  if (args.lineage === undefined && args.identity === undefined) {
    if (args.dryRun) throw new CaError('ERR_USAGE', 'cli: --dry-run goes with --lineage SERIAL or --identity PATTERN');
    return false;
  }
  if (given.length > 1) throw new CaError('ERR_USAGE', `cli: give one of SERIAL, --cert FILE, --lineage SERIAL or --identity PATTERN (got ${given.join(' and ')})`);
  if (args.key !== undefined) throw new CaError('ERR_USAGE', 'cli: --key is for revoking your own certificate (--cert); --lineage and --identity need an API key with the revoke scope');
  if (args.lineage !== undefined && normalizeSerial(args.lineage) === null) throw notASerial(args.lineage);
  return true;
}

function selectedLine(c: Selected): string {
  const identity = [c.spiffeId, ...c.dnsNames, ...c.ipAddresses].filter((n) => n !== null).join(',');
  return `  ${c.serial}  ${identity || c.name}${c.renewedFrom ? `  (renewed from ${c.renewedFrom})` : ''}`;
}

function renderMany(r: ManyRevoked): string {
  const what = r.lineage !== undefined ? `the lineage of ${r.lineage}` : `identity ${r.identity}`;
  const section = (title: string, list: readonly Selected[]) => (list.length === 0 ? [] : [`${title} (${list.length}):`, ...list.map(selectedLine)]);
  const lines = [
    ...(r.dryRun ? [`dry run: nothing was changed`] : []),
    ...section(r.dryRun ? `would revoke (${what}, reason ${r.reason})` : `revoked (${what}, reason ${r.reason})`, r.revoked),
    ...section('already revoked', r.alreadyRevoked),
    ...section('expired, left as they are', r.expired),
    ...section("the CA service's own, never revoked this way", r.skipped),
    ...(r.keyBlocked ? [`${r.dryRun ? 'would block' : 'blocked'} ${r.keysBlocked.length} key${r.keysBlocked.length === 1 ? '' : 's'}: no certificate will be issued or renewed for ${r.keysBlocked.length === 1 ? 'it' : 'them'} again`] : []),
  ];
  if (r.revoked.length === 0) lines.push(r.dryRun ? 'nothing would be revoked' : 'nothing to revoke: nothing changed');
  else if (!r.dryRun) lines.push('a `ca serve` running on this CA publishes them (CRL and OCSP) within a second; without one, sign fresh CRLs with `ca crl`');
  return lines.join('\n');
}

/** `ca revoke --lineage|--identity --dir`. */
function revokeManyLocal(args: RevokeArgs): Promise<CommandOutput> {
  const reason = parseRevocationReason(args.reason ?? 'unspecified');
  // A malformed pattern is the command line's mistake: refused before the CA is opened.
  if (args.identity !== undefined) parseIdentityFilter(args.identity);
  return withLocalCa(args.dir, async (ca) => {
    const authority = await ca.authority(args.passphrase);
    const options = { dryRun: args.dryRun ?? false };
    const outcome = args.lineage !== undefined ? await authority.revokeLineage(args.lineage, reason, { actor: localActor() }, options) : await authority.revokeIdentity(args.identity!, reason, { actor: localActor() }, options);
    const data = massRevocationJson(outcome);
    return { data, human: renderMany(data) };
  });
}

/** `ca revoke --lineage|--identity --ca-url`: `POST /v1/revocations` with an API key (scope revoke). */
async function revokeManyRemote(args: RemoteRevokeArgs & { lineage?: string; identity?: string; dryRun?: boolean }): Promise<CommandOutput> {
  const reason = parseRevocationReason(args.reason ?? 'unspecified');
  if (args.identity !== undefined) parseIdentityFilter(args.identity);
  if (args.apiKey === undefined) throw new CaError('ERR_USAGE', 'cli: with --ca-url, --lineage and --identity need an API key with the revoke scope (--api-key-file F or $MESHCA_API_KEY)');
  const body = { ...(args.lineage !== undefined ? { lineage: normalizeSerial(args.lineage)! } : { identity: args.identity! }), reason, ...(args.dryRun ? { dryRun: true } : {}) };
  const data = await connect(args).call<ManyRevoked>('POST', '/v1/revocations', { bearer: args.apiKey }, body);
  return { data, human: renderMany(data) };
}
