// EAB keys at rest: the HMAC keys operators hand to ACME clients, sealed with AES-256-GCM under a key derived from the CA's seal key.

import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { CaError } from '../errors.js';

/** A new external-account key: its id (public, sent by the client) and the HMAC key (secret, shown once). */
export interface EabCredentials {
  readonly kid: string;
  readonly hmacKey: Buffer;
}

/**
 * Makes a key id and a 256-bit HMAC key (clients take it base64url, as certbot's --eab-hmac-key and lego's --eab.hmac
 * do). The key's text never starts with "-": certbot's argument parser takes `--eab-hmac-key -…` for a missing value,
 * which would fail one key in 64.
 */
export function newEabCredentials(): EabCredentials {
  let hmacKey = randomBytes(32);
  while (hmacKey[0]! >> 2 === 62) hmacKey = randomBytes(32); // 62 is "-" in base64url
  return { kid: `eab_${randomBytes(12).toString('base64url')}`, hmacKey };
}

/**
 * The key that seals EAB keys, derived from the CA's seal key (which never leaves the CA directory): a copy of the
 * database alone does not give anyone the HMAC keys, which, unlike API-key secrets, must be recoverable to verify.
 */
export function eabSealingKey(sealKey: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', sealKey, Buffer.alloc(0), 'meshca acme eab keys', 32));
}

/** Seals `hmacKey` for storage, bound to its key id (a sealed key moved to another id does not open). */
export function sealEabKey(sealingKey: Buffer, kid: string, hmacKey: Buffer): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', sealingKey, iv).setAAD(Buffer.from(kid, 'utf8'));
  const body = Buffer.concat([cipher.update(hmacKey), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

/** Opens what {@link sealEabKey} sealed; `ERR_STORE_CORRUPT` when it was altered or sealed under another key or id. */
export function openEabKey(sealingKey: Buffer, kid: string, sealed: Buffer): Buffer {
  try {
    const decipher = createDecipheriv('aes-256-gcm', sealingKey, sealed.subarray(0, 12)).setAAD(Buffer.from(kid, 'utf8'));
    decipher.setAuthTag(sealed.subarray(12, 28));
    return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]);
  } catch (e) {
    throw new CaError('ERR_STORE_CORRUPT', `acme: the stored key of external account ${kid} does not open (altered, or sealed by another CA)`, { cause: e });
  }
}
