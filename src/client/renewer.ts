// Keeping a certificate file current: renew over mTLS at two thirds of its life, back off while the CA is down.

import { spawn } from 'node:child_process';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { generateKeyPair, privateKeyFromPem, privateKeyToPem, spkiOf, type KeyType } from '../crypto/keys.js';
import { readPemLabelled } from '../crypto/pem.js';
import { CaError } from '../errors.js';
import { readCertificate } from '../pki/certificate.js';
import { createCsr } from '../pki/csr.js';
import { writeFileAtomic } from '../files/atomic-write.js';
import type { CaClient, IssuedCertificate } from './ca-client.js';
import { RevocationStream, type RenewalNotice, type RevocationNotice } from './revocation-stream.js';

/** The certificate and key files being kept current. */
export interface CredentialFiles {
  readonly certPath: string;
  readonly keyPath: string;
}

/** Reads the leaf (first certificate) and key, checking that they belong together. */
export function readCredentials(files: CredentialFiles): { certPem: string; keyPem: string; notBefore: Date; notAfter: Date; serial: string; key: KeyObject } {
  let certPem: string, keyPem: string;
  try {
    certPem = readFileSync(files.certPath, 'utf8');
    keyPem = readFileSync(files.keyPath, 'utf8');
  } catch (e) {
    throw new CaError('ERR_FILE_NOT_FOUND', `renew: cannot read ${(e as NodeJS.ErrnoException).path ?? 'the credential files'} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const leaf = readCertificate(readPemLabelled(certPem, ['CERTIFICATE'], 'certificate file')[0]!);
  const key = privateKeyFromPem(keyPem, undefined, 'service key');
  if (!spkiOf(createPublicKey(key)).equals(leaf.spki)) throw new CaError('ERR_KEY_INVALID', `renew: ${files.keyPath} is not the key of ${files.certPath}`);
  return { certPem, keyPem, notBefore: leaf.notBefore, notAfter: leaf.notAfter, serial: leaf.serial, key };
}

function keyTypeOf(key: KeyObject): KeyType {
  const d = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'rsa') return (d?.modulusLength ?? 2048) >= 3072 ? 'rsa-3072' : 'rsa-2048';
  return d?.namedCurve === 'secp384r1' ? 'ec-p384' : 'ec-p256';
}

/**
 * Renews once over mTLS with the current files and replaces them atomically (key 0600 first, then the
 * certificate), optionally for a fresh key of the same type.
 */
export async function renewOnce(client: CaClient, files: CredentialFiles, rekey: boolean): Promise<IssuedCertificate> {
  const current = readCredentials(files);
  const newKey = rekey ? generateKeyPair(keyTypeOf(current.key)).privateKey : undefined;
  const body = newKey ? { csr: `-----BEGIN CERTIFICATE REQUEST-----\n${createCsr(newKey, 'renewal').toString('base64')}\n-----END CERTIFICATE REQUEST-----\n` } : undefined;
  const issued = await client.call<IssuedCertificate>('POST', '/v1/renew', { cert: current.certPem, key: current.keyPem }, body);
  if (newKey) writeFileAtomic(files.keyPath, privateKeyToPem(newKey), 0o600);
  writeFileAtomic(files.certPath, `${issued.certificate}${issued.chain}`, 0o644);
  return issued;
}

/**
 * When to renew: two thirds into the validity, moved by up to ±5% of it so a fleet does not renew in step. The
 * validity counts from `receivedAt` when the certificate was received later than its notBefore: the CA backdates
 * notBefore for clock skew (a minute), which for a lifetime of a minute or less would put the two-thirds point
 * in the past as soon as the certificate arrives, and renew it over and over.
 */
export function renewalTime(notBefore: Date, notAfter: Date, random: () => number = Math.random, receivedAt?: Date): Date {
  const start = Math.max(notBefore.getTime(), Math.min(receivedAt?.getTime() ?? 0, notAfter.getTime()));
  const life = notAfter.getTime() - start;
  return new Date(start + (life * 2) / 3 + (random() - 0.5) * 0.1 * life);
}

/** The CA's suggested renewal window for a certificate (RFC 9773 renewalInfo), and when to ask again. */
export interface RenewalInfo {
  readonly start: Date;
  readonly end: Date;
  readonly explanationUrl: string | null;
  /** From `Retry-After`: when the window may have moved (an operator's `ca renew-now`). */
  readonly retryAfterMs: number;
}

/** Reads `GET /v1/certificates/{serial}/renewal-info` (public, like OCSP). */
export async function fetchRenewalInfo(client: CaClient, serial: string): Promise<RenewalInfo> {
  const { body, headers } = await client.exchange<{ suggestedWindow?: { start?: unknown; end?: unknown }; explanationURL?: unknown }>('GET', `/v1/certificates/${serial}/renewal-info`, undefined);
  const start = typeof body.suggestedWindow?.start === 'string' ? new Date(body.suggestedWindow.start) : new Date(NaN);
  const end = typeof body.suggestedWindow?.end === 'string' ? new Date(body.suggestedWindow.end) : new Date(NaN);
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end < start) throw new CaError('ERR_CA_RESPONSE', 'renew: the CA\'s renewal-info has no valid suggestedWindow');
  const retry = Number(headers['retry-after']);
  return { start, end, explanationUrl: typeof body.explanationURL === 'string' ? body.explanationURL : null, retryAfterMs: Number.isFinite(retry) && retry > 0 ? Math.min(retry, 86400) * 1000 : 3600_000 };
}

/**
 * A moment to renew inside the window, drawn uniformly so a fleet told to renew "within 10 minutes" spreads over
 * them. The same window of the same certificate keeps the moment drawn before (polling does not redraw it); a window that had already
 * begun before this certificate was received is the CA's default one seen through a backdated notBefore (or
 * advice about its predecessor), so the certificate's own timing applies instead (see renewalTime).
 */
export function renewalMoment(info: Pick<RenewalInfo, 'start' | 'end'>, leaf: { serial: string; notBefore: Date; notAfter: Date }, previous: { window: string; at: Date } | undefined, receivedAt?: Date, random: () => number = Math.random): { window: string; at: Date } {
  // Per certificate: a successor given the same window (a rule made in the second it was signed) draws afresh.
  const window = `${leaf.serial} ${info.start.toISOString()}/${info.end.toISOString()}`;
  if (previous?.window === window) return previous;
  if (receivedAt !== undefined && info.start < receivedAt) return { window, at: renewalTime(leaf.notBefore, leaf.notAfter, random, receivedAt) };
  return { window, at: new Date(info.start.getTime() + random() * (info.end.getTime() - info.start.getTime())) };
}

/** Retry delay after `failures` failed attempts: exponential from 1 s, capped, with full jitter to spread a herd. */
export function retryDelayMs(failures: number, lifetimeMs: number, random: () => number = Math.random): number {
  const cap = Math.max(2_000, Math.min(5 * 60_000, lifetimeMs / 10));
  const ceiling = Math.min(cap, 1_000 * 2 ** Math.min(failures, 20));
  return Math.max(250, Math.round(ceiling * (0.5 + random() / 2)));
}

export interface DaemonOptions extends CredentialFiles {
  readonly client: CaClient;
  /** The CA's URL and root (PEM): with both, the daemon listens on the CA's stream for renewal advice. */
  readonly caUrl?: string;
  readonly caBundle?: string;
  readonly rekey: boolean;
  readonly exec?: string | undefined;
  readonly log: (line: string) => void;
  readonly signal: AbortSignal;
}

/** Waits `ms`, or less when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Runs an operator's reload command (`--exec`) through the shell, logging a failure; never throws. */
export function runHook(command: string, log: (line: string) => void): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(command, { shell: true, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', (e) => {
      log(`--exec could not start: ${e.message}`);
      resolve(false);
    });
    child.on('exit', (code, sig) => {
      if (code !== 0) log(`--exec exited with ${sig ?? code}`);
      resolve(code === 0);
    });
  });
}

/** Renews forever until `signal` aborts; never gives up, and says loudly when the certificate has expired. */
export async function runRenewalDaemon(o: DaemonOptions): Promise<void> {
  let failures = 0;
  /** The certificate this daemon last received, and when. */
  let received: { serial: string; at: Date } | undefined;
  let moment: { window: string; at: Date } | undefined;
  let announced = '';
  /** A certificate the CA refuses for good (revoked, its key blocked): no renewal is tried until the files change. */
  let refused: string | undefined;
  // Renewal advice arrives on the CA's stream (authenticated with the current certificate): it cuts the wait short,
  // and the window is then read again from renewal-info.
  let wake: AbortController | undefined;
  // Its own certificate's revocation is checked against the root and the chain in the certificate file.
  let own = '';
  const stream = o.caUrl && o.caBundle ? new RevocationStream({
    caUrl: o.caUrl,
    caBundle: o.caBundle,
    credentials: () => {
      const c = readCredentials(o);
      return { cert: c.certPem, key: c.keyPem };
    },
    trustBundle: () => `${o.caBundle}\n${readCredentials(o).certPem}`,
    concerns: (serial) => serial === own,
  }) : undefined;
  stream?.on('revoked', (n: RevocationNotice) => {
    if (n.serial !== own) return;
    o.log(`CERTIFICATE ${n.serial} WAS REVOKED at ${n.revokedAt.toISOString()} (${n.reason}): it cannot be renewed; re-enroll with a token`);
    wake?.abort();
  });
  stream?.on('renew', (n: RenewalNotice) => {
    const c = (() => { try { return readCredentials(o); } catch { return undefined; } })();
    if (c && adviceMayApply(n, c)) {
      o.log(`the CA advises renewal (advice ${n.adviceId}, window ${n.suggestedWindow.start} to ${n.suggestedWindow.end})`);
      wake?.abort();
    }
  });
  let subscribed = false;
  stream?.on('connected', () => {
    if (!subscribed) o.log("listening for renewal advice on the CA's stream");
    subscribed = true;
  });
  stream?.start();
  o.signal.addEventListener('abort', () => stream?.close(), { once: true });
  try {
    while (!o.signal.aborted) {
      let current;
      try {
        current = readCredentials(o);
      } catch (e) {
        o.log(`cannot read the credentials: ${(e as Error).message}; retrying in 10s`);
        await sleep(10_000, o.signal);
        continue;
      }
      own = current.serial;
      if (refused === current.serial) {
        await sleep(10_000, o.signal);
        continue;
      }
      const life = current.notAfter.getTime() - current.notBefore.getTime();
      const receivedAt = received?.serial === current.serial ? received.at : undefined;
      let wait: number;
      let recheck = Infinity;
      let why = '';
      if (failures > 0) wait = retryDelayMs(failures, life);
      else {
        try {
          const info = await fetchRenewalInfo(o.client, current.serial);
          moment = renewalMoment(info, current, moment, receivedAt);
          recheck = info.retryAfterMs;
          why = ` (the CA suggests ${info.start.toISOString()} to ${info.end.toISOString()})`;
        } catch (e) {
          // An older CA without renewal-info, or one out of reach: the certificate's own two-thirds point.
          moment = { window: '', at: renewalTime(current.notBefore, current.notAfter, Math.random, receivedAt) };
          recheck = 5 * 60_000;
          why = ` (renewal-info unavailable: ${(e as Error).message})`;
        }
        wait = moment.at.getTime() - Date.now();
      }
      // Said once per planned moment, not at every renewal-info poll.
      const plan = `${current.serial}@${moment?.at.toISOString() ?? ''}`;
      if (failures === 0 && plan !== announced) o.log(`certificate ${current.serial} valid until ${current.notAfter.toISOString()}; renewing in ${Math.max(0, Math.round(wait / 1000))}s${why}`);
      announced = plan;
      if (wait > recheck) {
        wake = new AbortController();
        await sleep(recheck, AbortSignal.any([o.signal, wake.signal]));
        continue;
      }
      wake = new AbortController();
      await sleep(Math.max(0, wait), AbortSignal.any([o.signal, wake.signal]));
      if (o.signal.aborted) break;
      if (wake.signal.aborted) continue;
      try {
        const issued = await renewOnce(o.client, o, o.rekey);
        received = { serial: issued.serial, at: new Date() };
        failures = 0;
        o.log(`renewed ${current.serial} → ${issued.serial}, valid until ${issued.notAfter}`);
        if (o.exec) await runHook(o.exec, o.log);
      } catch (e) {
        failures++;
        const expired = current.notAfter.getTime() <= Date.now();
        const code = e instanceof CaError ? ` [${e.code}]` : '';
        o.log(`${expired ? `CERTIFICATE ${current.serial} EXPIRED at ${current.notAfter.toISOString()}; ` : ''}renewal attempt ${failures} failed: ${(e as Error).message}${code}`);
        if (e instanceof CaError && ['ERR_CERTIFICATE_REVOKED', 'ERR_CERTIFICATE_UNTRUSTED', 'ERR_KEY_BLOCKED'].includes(e.code)) {
          o.log(`the CA refuses this certificate for good; it cannot be renewed: re-enroll with a token (waiting for ${o.certPath} to change)`);
          refused = current.serial;
          failures = 0;
        }
      }
    }
  } finally {
    stream?.close();
  }
}

/**
 * Whether renewal advice may cover this certificate, judged from what the event says (the CA's renewal-info
 * decides): by serial, by issue time, or for all. An identity pattern is left to renewal-info.
 */
export function adviceMayApply(n: RenewalNotice, leaf: { serial: string; notBefore: Date }): boolean {
  const s = n.selector;
  if (s.kind === 'serial') return s.serial === leaf.serial;
  if (s.kind === 'issued-before') return typeof s.before === 'string' && leaf.notBefore < new Date(s.before);
  return true;
}
