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

/** Retry delay after `failures` failed attempts: exponential from 1 s, capped, with full jitter to spread a herd. */
export function retryDelayMs(failures: number, lifetimeMs: number, random: () => number = Math.random): number {
  const cap = Math.max(2_000, Math.min(5 * 60_000, lifetimeMs / 10));
  const ceiling = Math.min(cap, 1_000 * 2 ** Math.min(failures, 20));
  return Math.max(250, Math.round(ceiling * (0.5 + random() / 2)));
}

export interface DaemonOptions extends CredentialFiles {
  readonly client: CaClient;
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
  while (!o.signal.aborted) {
    let current;
    try {
      current = readCredentials(o);
    } catch (e) {
      o.log(`cannot read the credentials: ${(e as Error).message}; retrying in 10s`);
      await sleep(10_000, o.signal);
      continue;
    }
    const life = current.notAfter.getTime() - current.notBefore.getTime();
    const receivedAt = received?.serial === current.serial ? received.at : undefined;
    const wait = failures === 0 ? renewalTime(current.notBefore, current.notAfter, Math.random, receivedAt).getTime() - Date.now() : retryDelayMs(failures, life);
    if (failures === 0) o.log(`certificate ${current.serial} valid until ${current.notAfter.toISOString()}; renewing in ${Math.max(0, Math.round(wait / 1000))}s`);
    await sleep(Math.max(0, wait), o.signal);
    if (o.signal.aborted) break;
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
      if (e instanceof CaError && ['ERR_CERTIFICATE_REVOKED', 'ERR_CERTIFICATE_UNTRUSTED'].includes(e.code)) {
        o.log('the CA refuses this certificate; it cannot be renewed (re-enroll with a token)');
      }
    }
  }
}
