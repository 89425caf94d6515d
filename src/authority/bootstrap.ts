// Creating a new CA hierarchy: a self-signed root and the issuing intermediate it signs.

import type { KeyObject } from 'node:crypto';
import { addSeconds, wholeSeconds } from '../crypto/clock.js';
import { generateKeyPair, keyIdentifier, signerFor, spkiOf, type KeyType } from '../crypto/keys.js';
import { randomSerial } from '../crypto/serial.js';
import type { TrustDomain } from '../identity/spiffe.js';
import { signCertificate } from '../pki/certificate.js';
import { caSubjects, intermediateTemplate, rootTemplate, type PublicationUrls } from '../pki/profile.js';

export const ROOT_LIFETIME_SECONDS = 10 * 365 * 86400;
export const INTERMEDIATE_LIFETIME_SECONDS = 365 * 86400;

/** A freshly made hierarchy: certificates (DER) and their private keys. */
export interface NewHierarchy {
  readonly root: { readonly der: Buffer; readonly key: KeyObject };
  readonly intermediate: { readonly der: Buffer; readonly key: KeyObject };
}

/** Makes a root (10 years, pathLen 1) and an intermediate (1 year, pathLen 0, URI names limited to the trust domain). */
export function createHierarchy(p: { name: string; trustDomain: TrustDomain; keyType: KeyType; urls: PublicationUrls; now: Date }): NewHierarchy {
  const now = wholeSeconds(p.now);
  const subjects = caSubjects(p.name);
  const rootKey = generateKeyPair(p.keyType).privateKey;
  const rootSpki = spkiOf(rootKey);
  const rootSigner = signerFor(rootKey);
  const rootDer = signCertificate(
    rootTemplate({ subject: subjects.root, spki: rootSpki, serial: randomSerial(), notBefore: now, notAfter: addSeconds(now, ROOT_LIFETIME_SECONDS) }),
    rootSigner,
  );
  const intermediateKey = generateKeyPair(p.keyType).privateKey;
  const intermediateDer = signCertificate(
    intermediateTemplate({
      issuer: { subject: subjects.root, keyId: keyIdentifier(rootSpki), notAfter: addSeconds(now, ROOT_LIFETIME_SECONDS), signer: rootSigner },
      subject: subjects.intermediate,
      spki: spkiOf(intermediateKey),
      serial: randomSerial(),
      notBefore: now,
      notAfter: addSeconds(now, INTERMEDIATE_LIFETIME_SECONDS),
      trustDomain: p.trustDomain,
      urls: p.urls,
    }),
    rootSigner,
  );
  return { root: { der: rootDer, key: rootKey }, intermediate: { der: intermediateDer, key: intermediateKey } };
}
