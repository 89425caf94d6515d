// `ca crl`: sign fresh CRLs on a local directory, or fetch and verify a running CA's; write the intermediate's (DER) or every level's (PEM).

import type { SignedCrl } from '../../authority/authority.js';
import { fetchBytes } from '../../client/fetch.js';
import { toPem } from '../../crypto/pem.js';
import { CaError } from '../../errors.js';
import { readCertificate, type CertificateView } from '../../pki/certificate.js';
import { crlSignedBy, readCrl } from '../../revocation/crl.js';
import { signedBy } from '../../revocation/ocsp-verify.js';
import { writeFileAtomic } from '../../files/atomic-write.js';
import { readPemLabelled } from '../../crypto/pem.js';
import { checkOutputPath, readInputFile } from '../io.js';
import type { CommandOutput } from '../output.js';
import { LocalCa } from '../../server/local-ca.js';
import { noteUpgrade } from './shared.js';

export interface CrlArgs {
  dir?: string;
  caUrl?: string;
  caBundle?: string;
  out: string;
  pem: boolean;
  passphrase: string | undefined;
}

type Described = Pick<SignedCrl, 'number' | 'thisUpdate' | 'nextUpdate'> & { entries: number | null; der: Buffer };

function output(args: CrlArgs, intermediate: Described, root: Described | undefined): CommandOutput {
  // Node's tls and OpenSSL read the `X509 CRL` label; x509's default `CRL` label is refused by Node.
  const body = root ? `${toPem('X509 CRL', root.der)}${toPem('X509 CRL', intermediate.der)}` : intermediate.der;
  writeFileAtomic(args.out, body, 0o644);
  const describe = (c: Described) => ({ number: c.number.toString(), entries: c.entries, thisUpdate: c.thisUpdate.toISOString(), nextUpdate: c.nextUpdate.toISOString() });
  const data = { out: args.out, format: args.pem ? 'pem' : 'der', intermediate: describe(intermediate), ...(root ? { root: describe(root) } : {}) };
  const line = (name: string, c: Described) => `  ${name.padEnd(12)}  CRL #${c.number}${c.entries === null ? '' : `, ${c.entries} revoked`}, next update ${c.nextUpdate.toISOString()}`;
  const human = [`wrote ${args.pem ? 'PEM CRLs (root, intermediate)' : 'DER CRL (intermediate)'} to ${args.out}`, line('intermediate', intermediate), ...(root ? [line('root', root)] : [])].join('\n');
  return { data, human };
}

export async function crl(args: CrlArgs): Promise<CommandOutput> {
  checkOutputPath(args.out, 'CRL', true);
  if (args.caUrl !== undefined) return crlRemote(args);
  const ca = LocalCa.open(args.dir!);
  noteUpgrade(ca);
  try {
    const authority = ca.authority(args.passphrase);
    const intermediate = await authority.signCrl('intermediate');
    const root = args.pem ? await authority.signCrl('root') : undefined;
    return output(args, intermediate, root);
  } finally {
    ca.close();
  }
}

/** Fetches the CRLs a running CA publishes and refuses any whose signature does not chain to --ca-bundle. */
async function crlRemote(args: CrlArgs): Promise<CommandOutput> {
  if (args.caBundle === undefined) throw new CaError('ERR_USAGE', 'cli: pass --ca-bundle ROOT.pem: fetched CRLs are verified against it');
  const bundleText = readInputFile(args.caBundle, 'CA bundle').toString('utf8');
  const roots = readPemLabelled(bundleText, ['CERTIFICATE'], 'CA bundle').map(readCertificate);
  const base = args.caUrl!.replace(/\/+$/, '');
  const https = base.startsWith('https:');
  const get = (path: string) => fetchBytes(`${base}${path}`, https ? { caBundle: bundleText, caService: true } : {});
  const served = readPemLabelled((await get('/v1/trust-bundle')).toString('utf8'), ['CERTIFICATE'], 'trust bundle').map(readCertificate);
  const root = roots.find((r) => r.subject.equals(r.issuer));
  if (!root) throw new CaError('ERR_TLS_TRUST', 'cli: --ca-bundle holds no self-signed root');
  const intermediate = served.find((c) => !c.subject.equals(c.issuer) && signedBy(c, root));
  if (!intermediate) throw new CaError('ERR_TLS_TRUST', 'cli: the CA serves no intermediate issued by the root in --ca-bundle');
  const fetchVerified = async (path: string, issuer: CertificateView, what: string): Promise<Described> => {
    const der = await get(path);
    const view = readCrl(der);
    if (!crlSignedBy(view, issuer)) throw new CaError('ERR_TLS_TRUST', `cli: the ${what} CRL from ${base} is not signed by the ${what} certificate`);
    if (view.number === undefined || view.nextUpdate === undefined) throw new CaError('ERR_CA_RESPONSE', `cli: the ${what} CRL lacks a CRL number or nextUpdate`);
    return { der, number: view.number, thisUpdate: view.thisUpdate, nextUpdate: view.nextUpdate, entries: null };
  };
  const inter = await fetchVerified('/crl/intermediate.crl', intermediate, 'intermediate');
  const rootCrl = args.pem ? await fetchVerified('/crl/root.crl', root, 'root') : undefined;
  return output(args, inter, rootCrl);
}
