// `ca crl`: sign fresh CRLs on a local directory, or fetch and verify a running CA's; write the intermediate's (DER) or every level's (PEM).

import type { SignedCrl } from '../../authority/authority.js';
import { fetchBytes } from '../../client/fetch.js';
import { toPem } from '../../crypto/pem.js';
import { CaError } from '../../errors.js';
import { readCertificate, signedBy, type CertificateView } from '../../pki/certificate.js';
import { crlSignedBy, readCrl, type CrlView } from '../../revocation/crl.js';
import { keyIdentifier } from '../../crypto/keys.js';
import { writeFileAtomic } from '../../files/atomic-write.js';
import { readPemLabelled } from '../../crypto/pem.js';
import { checkOutputPath, readInputFile } from '../io.js';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
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
  /** The root key's own passphrase, when it has one. */
  rootPassphrase?: string | undefined;
}

type Described = Pick<SignedCrl, 'number' | 'thisUpdate' | 'nextUpdate'> & {
  entries: number | null;
  der: Buffer;
  level: 'root' | 'intermediate';
  /** The intermediate's serial. */
  issuer?: string;
  /** Of a fetched CRL: the hex key identifier of the certificate it verified against. */
  issuerKeyId?: string;
};

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
  const ca = await LocalCa.open(args.dir!);
  noteUpgrade(ca);
  try {
    if (args.root) {
      // A ceremony: only the root key (from the offline copy) is needed; the intermediate keys are not loaded.
      const root = await ca.resignRootCrl(args.passphrase, { keyFile: args.rootKey, passphrase: args.rootPassphrase });
      return output({ ...args }, [{ ...root, level: 'root' }]);
    }
    const authority = await ca.authority(args.passphrase);
    const intermediates: Described[] = [];
    for (const issuer of args.pem ? authority.intermediates : [authority.intermediate]) intermediates.push({ ...(await authority.currentCrl(issuer, { fresh: true })), level: 'intermediate', issuer: issuer.certificate.serial });
    if (!args.pem) return output(args, intermediates);
    const root = await ca.rootCrl(args.passphrase);
    if (!root) throw new CaError('ERR_ROOT_KEY_OFFLINE', `cli: ${args.dir} has no root CRL and the root key is offline: sign one with \`ca crl --root --root-key FILE --dir ${args.dir} --out FILE\``);
    return output(args, [{ ...root, entries: null, level: 'root' }, ...intermediates]);
  } finally {
    await ca.close();
  }
}

/** How long one fetch from the CA may take in all: a server trickling bytes must not hold a sync forever. */
const FETCH_DEADLINE_MS = 30_000;

/** How far ahead of this host's clock a CRL's thisUpdate may be (clock skew between the CA and here). */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** A CA certificate a fetched CRL may be signed by. */
interface CrlIssuer {
  readonly level: 'root' | 'intermediate';
  readonly certificate: CertificateView;
  /** Hex key identifier of its key: what matches a CRL to the one of the same issuer already on disk. */
  readonly keyId: string;
}

const crlIssuer = (level: CrlIssuer['level'], certificate: CertificateView): CrlIssuer => ({ level, certificate, keyId: keyIdentifier(certificate.spki).toString('hex') });

/** How messages name the CRL of `issuer`. */
const crlOf = (issuer: Pick<Described, 'level' | 'issuer'>): string => (issuer.level === 'root' ? "the root's CRL" : `the CRL of intermediate ${issuer.issuer}`);

/** Where a running CA's CRLs are fetched from and checked against. */
interface CrlSource {
  readonly base: string;
  readonly get: (path: string) => Promise<Buffer>;
  /** Learns the intermediates (from the trust bundle) unless it has already. */
  readonly ready: () => Promise<void>;
  /** Re-reads the intermediates (after a rotation, a CRL may come from one this source has not seen yet). */
  readonly relearn: () => Promise<void>;
  /** The root in --ca-bundle or the known intermediate that signed `view`, if either did. */
  readonly issuerOf: (view: CrlView) => CrlIssuer | undefined;
  /** Checks a fetched CRL against the root in --ca-bundle and the intermediates it issued, and that it is current. */
  readonly verified: (der: Buffer, path: string) => Described;
  /** What a set of verified CRLs lacks (or holds twice) to be one CRL of the root and one of each intermediate; empty when complete. */
  readonly gaps: (crls: readonly Described[]) => string[];
}

/** The base URL of --ca-url, refused as a usage error when it is not an http(s) URL. */
function parseCaUrl(caUrl: string): string {
  let url: URL;
  try {
    url = new URL(caUrl);
  } catch {
    throw new CaError('ERR_USAGE', `cli: --ca-url "${caUrl}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CaError('ERR_USAGE', `cli: --ca-url "${caUrl}" is not an http:// or https:// URL`);
  return caUrl.replace(/\/+$/, '');
}

/** Refuses an --out that is the --ca-bundle file: writing CRLs there would replace the root they are checked against. */
function refuseOutIsBundle(out: string, caBundle: string | undefined): void {
  if (caBundle === undefined) return;
  let same = resolve(out) === resolve(caBundle);
  try {
    const [a, b] = [statSync(out), statSync(caBundle)];
    same ||= a.dev === b.dev && a.ino === b.ino;
  } catch {
    // One of them does not exist (yet): only the paths can name the same file.
  }
  if (same) throw new CaError('ERR_USAGE', `cli: --out ${out} is the --ca-bundle file; writing the CRLs there would replace the root they are verified against`);
}

/**
 * Reads --ca-bundle and --ca-url (failing at once on either: those are the user's to fix); the CA's intermediates
 * are learned from its trust bundle (each checked against --ca-bundle) at the first fetch, so a daemon whose CA is
 * down at start retries like after any later failure.
 */
function crlSource(caUrl: string, caBundle: string | undefined): CrlSource {
  if (caBundle === undefined) throw new CaError('ERR_USAGE', 'cli: pass --ca-bundle ROOT.pem: fetched CRLs are verified against it');
  const base = parseCaUrl(caUrl);
  const bundleText = readInputFile(caBundle, 'CA bundle').toString('utf8');
  const roots = readPemLabelled(bundleText, ['CERTIFICATE'], 'CA bundle').map(readCertificate);
  const https = base.startsWith('https:');
  const get = (path: string) => fetchBytes(`${base}${path}`, { ...(https ? { caBundle: bundleText, caService: true } : {}), deadlineMs: FETCH_DEADLINE_MS });
  const rootCertificate = roots.find((r) => r.subject.equals(r.issuer));
  if (!rootCertificate) throw new CaError('ERR_TLS_TRUST', 'cli: --ca-bundle holds no self-signed root');
  const root = crlIssuer('root', rootCertificate);
  let intermediates: CrlIssuer[] | undefined;
  const relearn = async () => {
    const served = readPemLabelled((await get('/v1/trust-bundle')).toString('utf8'), ['CERTIFICATE'], 'trust bundle').map(readCertificate);
    const issued = served.filter((c) => !c.subject.equals(c.issuer) && signedBy(c, rootCertificate));
    if (issued.length === 0) throw new CaError('ERR_TLS_TRUST', 'cli: the CA serves no intermediate issued by the root in --ca-bundle');
    intermediates = issued.map((c) => crlIssuer('intermediate', c));
  };
  const ready = async () => {
    if (intermediates === undefined) await relearn();
  };
  const issuerOf = (view: CrlView) => (crlSignedBy(view, root.certificate) ? root : intermediates?.find((i) => crlSignedBy(view, i.certificate)));
  const verified = (der: Buffer, path: string): Described => {
    const view = readCrl(der);
    const issuer = issuerOf(view);
    if (!issuer) throw new CaError('ERR_TLS_TRUST', `cli: a CRL from ${base}${path} is not signed by the root in --ca-bundle or an intermediate it issued`);
    if (view.number === undefined || view.nextUpdate === undefined) throw new CaError('ERR_CA_RESPONSE', `cli: a CRL from ${base}${path} lacks a CRL number or nextUpdate`);
    const crl: Described = { der, number: view.number, thisUpdate: view.thisUpdate, nextUpdate: view.nextUpdate, entries: null, level: issuer.level, issuerKeyId: issuer.keyId, ...(issuer.level === 'root' ? {} : { issuer: issuer.certificate.serial }) };
    // A CRL past its nextUpdate (or from a CA clock far ahead) would be a replay or a broken CA: relying parties
    // would refuse every peer with it, or take it as current long after it should have been replaced.
    const now = Date.now();
    if (crl.nextUpdate.getTime() <= now) {
      throw new CaError('ERR_CRL_STALE', `cli: ${crlOf(crl)} from ${base}${path} expired at ${crl.nextUpdate.toISOString()} (its nextUpdate; now ${new Date(now).toISOString()})`);
    }
    if (crl.thisUpdate.getTime() > now + MAX_CLOCK_SKEW_MS) {
      throw new CaError('ERR_CRL_STALE', `cli: ${crlOf(crl)} from ${base}${path} is not valid until ${crl.thisUpdate.toISOString()} (its thisUpdate), more than 5 minutes after now (${new Date(now).toISOString()})`);
    }
    return crl;
  };
  const gaps = (crls: readonly Described[]): string[] => {
    const out: string[] = [];
    for (const issuer of [root, ...(intermediates ?? [])]) {
      const held = crls.filter((c) => c.issuerKeyId === issuer.keyId).length;
      const name = crlOf({ level: issuer.level, issuer: issuer.certificate.serial });
      if (held === 0) out.push(`lacks ${name}`);
      else if (held > 1) out.push(`holds ${held} copies of ${name}`);
    }
    return out;
  };
  return { base, get, ready, relearn, issuerOf, verified, gaps };
}

/**
 * Fetches the current intermediate's CRL (DER) or every level's (PEM) and verifies each; every level's must be one
 * CRL of the root and one of each intermediate the CA's trust bundle lists, so a server cannot leave one out.
 */
async function fetchCrls(source: CrlSource, pem: boolean): Promise<Described[]> {
  await source.ready();
  const path = pem ? '/crl/all.pem' : '/crl/intermediate.crl';
  const body = await source.get(path);
  const ders = pem ? readPemLabelled(body.toString('utf8'), ['X509 CRL'], 'CRL bundle') : [body];
  const judge = (): { crls: Described[]; gaps: string[] } => {
    const crls = ders.map((der) => source.verified(der, path));
    return { crls, gaps: pem ? source.gaps(crls) : [] };
  };
  let judged: { crls: Described[]; gaps: string[] };
  try {
    judged = judge();
  } catch (e) {
    // A CRL of an intermediate this source has not seen yet (a rotation since): learn the intermediates once, then judge.
    if (!(e instanceof CaError) || e.code !== 'ERR_TLS_TRUST') throw e;
    await source.relearn();
    judged = judge();
  }
  if (judged.gaps.length > 0) {
    // The CA may have dropped an intermediate (its last leaf expired) since the trust bundle was read: read it again.
    await source.relearn();
    judged = judge();
  }
  if (judged.gaps.length > 0) throw new CaError('ERR_CA_RESPONSE', `cli: ${source.base}${path} is incomplete: it ${judged.gaps.join(', ')} (the CA's trust bundle lists each intermediate)`);
  if (!pem && judged.crls[0]!.level !== 'intermediate') throw new CaError('ERR_TLS_TRUST', `cli: ${source.base}${path} is the root's CRL`);
  return judged.crls;
}

/**
 * Refuses `crls` when the file they would replace holds a CRL of the same issuer with a higher number, or with the
 * same number and other bytes: a replayed older set would un-revoke certificates. What in the file does not parse
 * or verify against the same issuers is not compared.
 */
function refuseRollback(source: CrlSource, crls: readonly Described[], current: string | undefined, out: string, from: string): void {
  if (current === undefined) return;
  const held = new Map<string, { number: bigint; der: Buffer }>();
  let ders: Buffer[];
  try {
    ders = readPemLabelled(current, ['X509 CRL'], 'CRL file');
  } catch {
    return;
  }
  for (const der of ders) {
    try {
      const view = readCrl(der);
      const issuer = source.issuerOf(view);
      const before = issuer && held.get(issuer.keyId);
      if (issuer && view.number !== undefined && (!before || view.number > before.number)) held.set(issuer.keyId, { number: view.number, der });
    } catch {
      // Not a CRL we can read: nothing to compare it with.
    }
  }
  for (const crl of crls) {
    const before = crl.issuerKeyId === undefined ? undefined : held.get(crl.issuerKeyId);
    if (!before || crl.number > before.number || crl.der.equals(before.der)) continue;
    const why = crl.number < before.number ? `is #${crl.number}, older than #${before.number} in ${out}` : `is #${crl.number} like the one in ${out} but differs from it`;
    throw new CaError('ERR_CRL_ROLLBACK', `cli: refusing a rollback: ${crlOf(crl)} from ${from} ${why}; ${out} is kept (delete it to accept the CA's CRLs as they are)`);
  }
}

/** Fetches the CRLs a running CA publishes and refuses any whose signature does not chain to --ca-bundle. */
async function crlRemote(args: CrlArgs & { out: string }): Promise<CommandOutput> {
  refuseOutIsBundle(args.out, args.caBundle);
  const source = crlSource(args.caUrl!, args.caBundle);
  return output(args, await fetchCrls(source, args.pem));
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
  refuseOutIsBundle(args.out, args.caBundle);
  const source = crlSource(args.caUrl, args.caBundle);
  const pem = (crls: readonly Described[]) => crls.map((c) => toPem('X509 CRL', c.der)).join('');
  const sync = async (): Promise<{ changed: boolean; crls: Described[] }> => {
    const crls = await fetchCrls(source, !args.intermediateOnly);
    const body = pem(crls);
    let current: string | undefined;
    try {
      current = readFileSync(args.out, 'utf8');
    } catch {
      current = undefined;
    }
    if (current === body) return { changed: false, crls };
    refuseRollback(source, crls, current, args.out, `${source.base}${args.intermediateOnly ? '/crl/intermediate.crl' : '/crl/all.pem'}`);
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
      const kept = existsSync(args.out) ? `keeping ${args.out}` : `nothing written to ${args.out} yet`;
      log(`could not update the CRLs (${(e as Error).message}); ${kept}${left === undefined ? '' : left > 0 ? `, valid for ${Math.round(left / 1000)} s more` : ', WHICH HAS EXPIRED: relying parties will refuse every peer'}`);
    }
    // Never sleep past half the time left before the soonest nextUpdate.
    if (soonest) wait = Math.max(1_000, Math.min(wait, (soonest.getTime() - Date.now()) / 2));
    await sleep(wait, stop.signal);
  }
  stop.release();
  return { data: { stopped: true }, human: '' };
}
