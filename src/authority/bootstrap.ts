// Creating a new CA hierarchy: a self-signed root and the issuing intermediate it signs.

import type { KeyObject } from 'node:crypto';
import { addSeconds, wholeSeconds } from '../crypto/clock.js';
import { generateKeyPair, keyIdentifier, signerFor, spkiOf, type KeyType } from '../crypto/keys.js';
import { randomSerial } from '../crypto/serial.js';
import type { TrustDomain } from '../identity/spiffe.js';
import { signCertificate } from '../pki/certificate.js';
import { caSubjects, intermediateTemplate, rootTemplate, type IssuerProfile, type PublicationUrls } from '../pki/profile.js';

export const ROOT_LIFETIME_SECONDS = 10 * 365 * 86400;
export const INTERMEDIATE_LIFETIME_SECONDS = 365 * 86400;

/** A freshly made hierarchy: certificates (DER) and their private keys. */
export interface NewHierarchy {
  readonly root: { readonly der: Buffer; readonly key: KeyObject };
  readonly intermediate: { readonly der: Buffer; readonly key: KeyObject };
}

/** Makes a root (10 years, pathLen 1) and an intermediate (pathLen 0, URI names limited to the trust domain). */
export function createHierarchy(p: { name: string; trustDomain: TrustDomain; keyType: KeyType; urls: PublicationUrls; now: Date; intermediateLifetimeSeconds?: number }): NewHierarchy {
  const now = wholeSeconds(p.now);
  const subjects = caSubjects(p.name);
  const rootKey = generateKeyPair(p.keyType).privateKey;
  const rootSpki = spkiOf(rootKey);
  const rootSigner = signerFor(rootKey);
  const rootDer = signCertificate(
    rootTemplate({ subject: subjects.root, spki: rootSpki, serial: randomSerial(), notBefore: now, notAfter: addSeconds(now, ROOT_LIFETIME_SECONDS) }),
    rootSigner,
  );
  const root = { subject: subjects.root, keyId: keyIdentifier(rootSpki), notAfter: addSeconds(now, ROOT_LIFETIME_SECONDS), signer: rootSigner };
  const intermediate = createIntermediate({ ...p, root, lifetimeSeconds: p.intermediateLifetimeSeconds ?? INTERMEDIATE_LIFETIME_SECONDS });
  return { root: { der: rootDer, key: rootKey }, intermediate };
}

/**
 * Makes an intermediate under `root` (at init, and at each rotation): a fresh key, pathLen 0, URI names limited to
 * the trust domain, never outliving the root.
 */
export function createIntermediate(p: { name: string; trustDomain: TrustDomain; keyType: KeyType; urls: PublicationUrls; now: Date; root: IssuerProfile; lifetimeSeconds: number }): { der: Buffer; key: KeyObject } {
  const now = wholeSeconds(p.now);
  const key = generateKeyPair(p.keyType).privateKey;
  const wanted = addSeconds(now, p.lifetimeSeconds);
  const der = signCertificate(
    intermediateTemplate({
      issuer: p.root,
      subject: caSubjects(p.name).intermediate,
      spki: spkiOf(key),
      serial: randomSerial(),
      notBefore: now,
      notAfter: wanted > p.root.notAfter ? p.root.notAfter : wanted,
      trustDomain: p.trustDomain,
      urls: p.urls,
    }),
    p.root.signer,
  );
  return { der, key };
}
