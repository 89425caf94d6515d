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
  /** Re-sign the root's CRL (needs the root key: in the directory, or --root-key). */
  root?: boolean;
  rootKey?: string;
  passphrase: string | undefined;
}

type Described = Pick<SignedCrl, 'number' | 'thisUpdate' | 'nextUpdate'> & { entries: number | null; der: Buffer; level: 'root' | 'intermediate'; issuer?: string };

function output(args: CrlArgs, crls: readonly Described[]): CommandOutput {
  // Node's tls and OpenSSL read the `X509 CRL` label; x509's default `CRL` label is refused by Node.
  const body = args.pem ? crls.map((c) => toPem('X509 CRL', c.der)).join('') : crls[0]!.der;
  writeFileAtomic(args.out, body, 0o644);
  const describe = (c: Described) => ({ number: c.number.toString(), entries: c.entries, thisUpdate: c.thisUpdate.toISOString(), nextUpdate: c.nextUpdate.toISOString(), ...(c.issuer ? { issuer: c.issuer } : {}) });
  const root = crls.find((c) => c.level === 'root');
  const intermediates = crls.filter((c) => c.level === 'intermediate');
  const data = {
    out: args.out,
    format: args.pem ? 'pem' : 'der',
    ...(intermediates[0] ? { intermediate: describe(intermediates[0]) } : {}),
    ...(intermediates.length > 1 ? { retired: intermediates.slice(1).map(describe) } : {}),
    ...(root ? { root: describe(root) } : {}),
  };
  const line = (name: string, c: Described) => `  ${name.padEnd(12)}  CRL #${c.number}${c.entries === null ? '' : `, ${c.entries} revoked`}, next update ${c.nextUpdate.toISOString()}`;
  const what = args.pem ? `PEM CRLs (${crls.map((c) => c.level).join(', ')})` : `DER CRL (${crls[0]!.level})`;
  const human = [`wrote ${what} to ${args.out}`, ...crls.map((c, i) => line(c.level === 'intermediate' && i > 0 && intermediates[0] !== c ? 'retired' : c.level, c))].join('\n');
  return { data, human };
}

export async function crl(args: CrlArgs): Promise<CommandOutput> {
  checkOutputPath(args.out, 'CRL', true);
  if (args.rootKey !== undefined && !args.root) throw new CaError('ERR_USAGE', 'cli: --root-key goes with --root (re-signing the root\'s CRL)');
  if (args.caUrl !== undefined) {
    if (args.root) throw new CaError('ERR_USAGE', 'cli: --root re-signs the root\'s CRL with the root key: use it with --dir, not --ca-url');
    return crlRemote(args);
  }
  const ca = LocalCa.open(args.dir!);
  noteUpgrade(ca);
  try {
    if (args.root) {
      // A ceremony: only the root key (from the offline copy) is needed; the intermediate keys are not loaded.
      const root = ca.resignRootCrl(args.passphrase, args.rootKey);
      return output({ ...args }, [{ ...root, level: 'root' }]);
    }
    const authority = ca.authority(args.passphrase);
    const intermediates: Described[] = [];
    for (const issuer of args.pem ? authority.intermediates : [authority.intermediate]) intermediates.push({ ...(await authority.signCrl(issuer)), level: 'intermediate', issuer: issuer.certificate.serial });
    if (!args.pem) return output(args, intermediates);
    const root = ca.rootCrl(args.passphrase);
    if (!root) throw new CaError('ERR_ROOT_KEY_OFFLINE', `cli: ${args.dir} has no root CRL and the root key is offline: sign one with \`ca crl --root --root-key FILE --dir ${args.dir} --out FILE\``);
    return output(args, [{ ...root, entries: null, level: 'root' }, ...intermediates]);
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
  const intermediates = served.filter((c) => !c.subject.equals(c.issuer) && signedBy(c, root));
  if (intermediates.length === 0) throw new CaError('ERR_TLS_TRUST', 'cli: the CA serves no intermediate issued by the root in --ca-bundle');
  const verified = (der: Buffer, path: string): Described => {
    const view = readCrl(der);
    const isRoot = crlSignedBy(view, root);
    const issuer = isRoot ? root : intermediates.find((i) => crlSignedBy(view, i));
    if (!issuer) throw new CaError('ERR_TLS_TRUST', `cli: a CRL from ${base}${path} is not signed by the root in --ca-bundle or an intermediate it issued`);
    if (view.number === undefined || view.nextUpdate === undefined) throw new CaError('ERR_CA_RESPONSE', `cli: a CRL from ${base}${path} lacks a CRL number or nextUpdate`);
    return { der, number: view.number, thisUpdate: view.thisUpdate, nextUpdate: view.nextUpdate, entries: null, level: isRoot ? 'root' : 'intermediate', ...(isRoot ? {} : { issuer: issuer.serial }) };
  };
  if (!args.pem) {
    const one = verified(await get('/crl/intermediate.crl'), '/crl/intermediate.crl');
    if (one.level !== 'intermediate') throw new CaError('ERR_TLS_TRUST', `cli: ${base}/crl/intermediate.crl is the root's CRL`);
    return output(args, [one]);
  }
  const all = readPemLabelled((await get('/crl/all.pem')).toString('utf8'), ['X509 CRL'], 'CRL bundle').map((der) => verified(der, '/crl/all.pem'));
  return output(args, all);
}
