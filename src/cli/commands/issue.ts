// `ca issue`: sign a leaf on a local CA directory (fresh key pair or given CSR), or enroll with a remote CA.

import { parseDuration } from '../../config/duration.js';
import { generateKeyPair, parseKeyType, privateKeyToPem, spkiOf } from '../../crypto/keys.js';
import { toPem } from '../../crypto/pem.js';
import { CaError } from '../../errors.js';
import type { IssuedCertificate } from '../../client/ca-client.js';
import { createCsr, csrDer } from '../../pki/csr.js';
import { writeFileAtomic } from '../../files/atomic-write.js';
import { checkOutputPath, readInputFile } from '../io.js';
import type { CommandOutput } from '../output.js';
import { connect, type RemoteArgs } from './remote.js';
import { certificateSummary } from '../../authority/describe.js';
import { localActor, withLocalCa } from './shared.js';

export interface IssueArgs {
  name: string;
  dir: string;
  spiffeId?: string;
  dns: string[];
  ip: string[];
  ttl?: string;
  keyType?: string;
  csr?: string;
  certOut: string;
  keyOut?: string;
  force: boolean;
  passphrase: string | undefined;
}

export function issue(args: IssueArgs): Promise<CommandOutput> {
  if (args.csr !== undefined && args.keyOut !== undefined) throw new CaError('ERR_USAGE', 'cli: --key-out makes no sense with --csr (the key stays with whoever made the CSR)');
  if (args.csr !== undefined && args.keyType !== undefined) throw new CaError('ERR_USAGE', 'cli: --key-type makes no sense with --csr (the CSR fixes the key)');
  if (args.csr === undefined && args.keyOut === undefined) throw new CaError('ERR_USAGE', 'cli: --key-out FILE is required when the CA generates the key (or pass --csr FILE)');
  const ttlSeconds = args.ttl === undefined ? undefined : parseDuration(args.ttl);
  checkOutputPath(args.certOut, 'certificate', true);
  if (args.keyOut !== undefined) checkOutputPath(args.keyOut, 'key', args.force);
  const csr = args.csr === undefined ? undefined : csrDer(readInputFile(args.csr, 'CSR'));
  const keyPair = csr === undefined ? generateKeyPair(parseKeyType(args.keyType ?? 'ec-p256')) : undefined;

  return withLocalCa(args.dir, async (ca) => {
    const authority = await ca.authority(args.passphrase);
    const leaf = await authority.issue(
      {
        commonName: args.name,
        spiffeId: args.spiffeId,
        dnsNames: args.dns,
        ipAddresses: args.ip,
        ttlSeconds,
        key: csr !== undefined ? { csr } : { spki: spkiOf(keyPair!.privateKey) },
      },
      { actor: localActor() },
    );
    if (keyPair && args.keyOut !== undefined) writeFileAtomic(args.keyOut, privateKeyToPem(keyPair.privateKey), 0o600);
    writeFileAtomic(args.certOut, `${toPem('CERTIFICATE', leaf.der)}${authority.chainFor(leaf)}`, 0o644);
    const data = certificateSummary(leaf);
    const names = [leaf.spiffeId, ...leaf.dnsNames, ...leaf.ipAddresses].filter((n) => n !== null).join(', ');
    const human = [
      `issued ${args.name}: serial ${leaf.serial}`,
      `  names      ${names}`,
      `  valid      ${data.notBefore} → ${data.notAfter}`,
      `  cert+chain ${args.certOut}${args.keyOut ? `\n  key        ${args.keyOut} (0600)` : ''}`,
    ].join('\n');
    return { data, human };
  });
}

export interface RemoteIssueArgs extends RemoteArgs {
  name: string;
  token?: string;
  apiKey?: string;
  spiffeId?: string;
  dns: string[];
  ip: string[];
  ttl?: string;
  keyType?: string;
  certOut: string;
  keyOut?: string;
  force: boolean;
}

/** `ca issue --ca-url`: the key is generated here and only a CSR leaves the machine. */
export async function issueRemote(args: RemoteIssueArgs): Promise<CommandOutput> {
  if ((args.token === undefined) === (args.apiKey === undefined)) throw new CaError('ERR_USAGE', 'cli: with --ca-url, give exactly one credential: --token-file F or $MESHCA_TOKEN (an enrollment token), or --api-key-file F or $MESHCA_API_KEY');
  if (args.keyOut === undefined) throw new CaError('ERR_USAGE', 'cli: --key-out FILE is required (the key is generated locally)');
  if (args.ttl !== undefined) parseDuration(args.ttl);
  checkOutputPath(args.certOut, 'certificate', true);
  checkOutputPath(args.keyOut, 'key', args.force);
  const client = connect(args);
  const key = generateKeyPair(parseKeyType(args.keyType ?? 'ec-p256')).privateKey;
  const issued = await client.call<IssuedCertificate>('POST', '/v1/sign', { bearer: (args.token ?? args.apiKey)! }, {
    csr: toPem('CERTIFICATE REQUEST', createCsr(key, args.name)),
    name: args.name,
    ...(args.spiffeId === undefined ? {} : { spiffeId: args.spiffeId }),
    dnsNames: args.dns,
    ipAddresses: args.ip,
    ...(args.ttl === undefined ? {} : { ttl: args.ttl }),
  });
  writeFileAtomic(args.keyOut, privateKeyToPem(key), 0o600);
  writeFileAtomic(args.certOut, `${issued.certificate}${issued.chain}`, 0o644);
  const data = { serial: issued.serial, notBefore: issued.notBefore, notAfter: issued.notAfter, spiffeId: issued.spiffeId, dnsNames: issued.dnsNames, ipAddresses: issued.ipAddresses };
  const names = [issued.spiffeId, ...issued.dnsNames, ...issued.ipAddresses].filter((n) => n !== null).join(', ');
  return { data, human: `issued ${args.name}: serial ${issued.serial}\n  names      ${names}\n  valid      ${issued.notBefore} → ${issued.notAfter}\n  cert+chain ${args.certOut}\n  key        ${args.keyOut} (0600)` };
}
