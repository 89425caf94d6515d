// `ca revoke`: record a leaf's revocation, by serial or by certificate file.

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
}

/** `ca revoke --ca-url`: with an API key (scope revoke), or as the holder of the certificate (mTLS with --cert and --key). */
export async function revokeRemote(args: RemoteRevokeArgs): Promise<CommandOutput> {
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
