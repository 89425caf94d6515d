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
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { runHook, sleep } from '../../client/renewer.js';
import type { CommandOutput } from '../output.js';
import { LocalCa } from '../../server/local-ca.js';
import { noteUpgrade, stopOnSignals } from './shared.js';

export interface CrlArgs {
  dir?: string;
  caUrl?: string;
  caBundle?: string;
  /** Required; checked here, since `ca crl sync` shares the command. */
  out: string | undefined;
  pem: boolean;
  /** Re-sign the root's CRL (needs the root key: in the directory, or --root-key). */
  root?: boolean;
  rootKey?: string;
  passphrase: string | undefined;
}

type Described = Pick<SignedCrl, 'number' | 'thisUpdate' | 'nextUpdate'> & { entries: number | null; der: Buffer; level: 'root' | 'intermediate'; issuer?: string };

function output(args: CrlArgs & { out: string }, crls: readonly Described[]): CommandOutput {
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

export async function crl(given: CrlArgs): Promise<CommandOutput> {
  if (given.out === undefined) throw new CaError('ERR_USAGE', "cli: required option '--out <file>' not specified (see `ca crl --help`)");
  const args = { ...given, out: given.out };
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

/** Where a running CA's CRLs are fetched from and checked against. */
interface CrlSource {
  readonly base: string;
  readonly get: (path: string) => Promise<Buffer>;
  /** Checks a fetched CRL against the root in --ca-bundle and the intermediates it issued. */
  readonly verified: (der: Buffer, path: string) => Described;
  /** Re-reads the intermediates (after a rotation, a CRL may come from one this source has not seen yet). */
  readonly relearn: () => Promise<void>;
}

/** Connects to --ca-url and learns its intermediates (from the trust bundle, each checked against --ca-bundle). */
async function crlSource(caUrl: string, caBundle: string | undefined): Promise<CrlSource> {
  if (caBundle === undefined) throw new CaError('ERR_USAGE', 'cli: pass --ca-bundle ROOT.pem: fetched CRLs are verified against it');
  const bundleText = readInputFile(caBundle, 'CA bundle').toString('utf8');
  const roots = readPemLabelled(bundleText, ['CERTIFICATE'], 'CA bundle').map(readCertificate);
  const base = caUrl.replace(/\/+$/, '');
  const https = base.startsWith('https:');
  const get = (path: string) => fetchBytes(`${base}${path}`, https ? { caBundle: bundleText, caService: true } : {});
  const root = roots.find((r) => r.subject.equals(r.issuer));
  if (!root) throw new CaError('ERR_TLS_TRUST', 'cli: --ca-bundle holds no self-signed root');
  let intermediates: CertificateView[] = [];
  const learn = async () => {
    const served = readPemLabelled((await get('/v1/trust-bundle')).toString('utf8'), ['CERTIFICATE'], 'trust bundle').map(readCertificate);
    intermediates = served.filter((c) => !c.subject.equals(c.issuer) && signedBy(c, root));
    if (intermediates.length === 0) throw new CaError('ERR_TLS_TRUST', 'cli: the CA serves no intermediate issued by the root in --ca-bundle');
  };
  await learn();
  const check = (der: Buffer, path: string): Described => {
    const view = readCrl(der);
    const isRoot = crlSignedBy(view, root);
    const issuer = isRoot ? root : intermediates.find((i) => crlSignedBy(view, i));
    if (!issuer) throw new CaError('ERR_TLS_TRUST', `cli: a CRL from ${base}${path} is not signed by the root in --ca-bundle or an intermediate it issued`);
    if (view.number === undefined || view.nextUpdate === undefined) throw new CaError('ERR_CA_RESPONSE', `cli: a CRL from ${base}${path} lacks a CRL number or nextUpdate`);
    return { der, number: view.number, thisUpdate: view.thisUpdate, nextUpdate: view.nextUpdate, entries: null, level: isRoot ? 'root' : 'intermediate', ...(isRoot ? {} : { issuer: issuer.serial }) };
  };
  return { base, get, verified: check, relearn: learn };
}

/** Fetches `which` CRLs (DER of the current intermediate's, or every level's as PEM) and verifies each. */
async function fetchCrls(source: CrlSource, pem: boolean): Promise<Described[]> {
  const path = pem ? '/crl/all.pem' : '/crl/intermediate.crl';
  const body = await source.get(path);
  const ders = pem ? readPemLabelled(body.toString('utf8'), ['X509 CRL'], 'CRL bundle') : [body];
  try {
    return ders.map((der) => source.verified(der, path));
  } catch (e) {
    // A CRL of an intermediate this source has not seen yet (a rotation since): learn the intermediates once, then judge.
    if (!(e instanceof CaError) || e.code !== 'ERR_TLS_TRUST') throw e;
    await source.relearn();
    return ders.map((der) => source.verified(der, path));
  }
}

/** Fetches the CRLs a running CA publishes and refuses any whose signature does not chain to --ca-bundle. */
async function crlRemote(args: CrlArgs & { out: string }): Promise<CommandOutput> {
  const source = await crlSource(args.caUrl!, args.caBundle);
  const crls = await fetchCrls(source, args.pem);
  if (!args.pem && crls[0]!.level !== 'intermediate') throw new CaError('ERR_TLS_TRUST', `cli: ${source.base}/crl/intermediate.crl is the root's CRL`);
  return output(args, crls);
}

export interface CrlSyncArgs {
  caUrl: string;
  caBundle?: string;
  out: string;
  /** Only the current intermediate's CRL, as one PEM block (what openssl s_server -CRL reads), instead of every level. */
  intermediateOnly: boolean;
  exec?: string;
  once: boolean;
  /** Seconds between fetches (revocations reach the file within this). */
  interval: number;
}

/**
 * `ca crl sync`: keeps FILE holding the CA's current CRLs (verified) for relying parties that are not Node (nginx,
 * HAProxy, envoy, openssl s_server): fetched every --interval and always before the soonest nextUpdate, written
 * atomically only when they changed, then --exec runs (a reload). A failed fetch keeps the file as it is and is
 * retried; the CRLs in it stay valid until their nextUpdate, which the log warns about as it nears.
 */
export async function crlSync(args: CrlSyncArgs, log: (line: string) => void): Promise<CommandOutput> {
  checkOutputPath(args.out, 'CRL', true);
  if (!Number.isFinite(args.interval) || args.interval < 1 || args.interval > 86400) throw new CaError('ERR_USAGE', 'cli: --interval is 1-86400 seconds');
  const source = await crlSource(args.caUrl, args.caBundle);
  const pem = (crls: readonly Described[]) => crls.map((c) => toPem('X509 CRL', c.der)).join('');
  const sync = async (): Promise<{ changed: boolean; crls: Described[] }> => {
    const all = await fetchCrls(source, true);
    const crls = args.intermediateOnly ? [(await fetchCrls(source, false))[0]!] : all;
    const body = pem(crls);
    let current: string | undefined;
    try {
      current = readFileSync(args.out, 'utf8');
    } catch {
      current = undefined;
    }
    if (current === body) return { changed: false, crls };
    writeFileAtomic(args.out, body, 0o644);
    return { changed: true, crls };
  };
  const describe = (crls: readonly Described[]) => crls.map((c) => `${c.level} #${c.number} (next update ${c.nextUpdate.toISOString()})`).join(', ');
  // A reload that failed is retried: by the next loop of the daemon, or by the next --once run (the marker file
  // says the relying party may still hold the CRLs from before, though the file is current).
  const failedMarker = `${args.out}.reload-failed`;
  const reload = async (exec: string): Promise<boolean> => {
    const ok = await runHook(exec, log);
    if (ok) rmSync(failedMarker, { force: true });
    else writeFileSync(failedMarker, `${new Date().toISOString()} ${exec}\n`);
    return ok;
  };
  if (args.once) {
    const { changed, crls } = await sync();
    if (args.exec && (changed || existsSync(failedMarker)) && !(await reload(args.exec))) {
      throw new CaError('ERR_EXEC_FAILED', `cli: ${changed ? 'wrote' : 'kept'} ${args.out}, but --exec failed, so the relying party may still use the CRLs from before; the next run retries it`);
    }
    return { data: { out: args.out, changed, crls: crls.map((c) => ({ level: c.level, number: c.number.toString(), nextUpdate: c.nextUpdate.toISOString() })) }, human: `${changed ? 'wrote' : 'unchanged'} ${args.out}: ${describe(crls)}` };
  }
  const stop = stopOnSignals(log);
  let soonest: Date | undefined;
  while (!stop.signal.aborted) {
    let wait = args.interval * 1000;
    try {
      const { changed, crls } = await sync();
      soonest = crls.reduce<Date | undefined>((a, c) => (a === undefined || c.nextUpdate < a ? c.nextUpdate : a), undefined);
      if (changed) log(`wrote ${args.out}: ${describe(crls)}`);
      if (args.exec && (changed || existsSync(failedMarker)) && !(await reload(args.exec))) wait = Math.min(wait, 5_000);
    } catch (e) {
      wait = Math.min(wait, 5_000);
      const left = soonest ? soonest.getTime() - Date.now() : undefined;
      log(`could not fetch the CRLs (${(e as Error).message}); keeping ${args.out}${left === undefined ? '' : left > 0 ? `, valid for ${Math.round(left / 1000)} s more` : ', WHICH HAS EXPIRED: relying parties will refuse every peer'}`);
    }
    // Never sleep past half the time left before the soonest nextUpdate.
    if (soonest) wait = Math.max(1_000, Math.min(wait, (soonest.getTime() - Date.now()) / 2));
    await sleep(wait, stop.signal);
  }
  stop.release();
  return { data: { stopped: true }, human: '' };
}
