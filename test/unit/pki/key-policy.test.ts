import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readPublicKeyInfo, spkiOf } from '../../../src/crypto/keys.js';
import { csrDer, verifyCsr } from '../../../src/pki/csr.js';
import { checkSubjectKey } from '../../../src/pki/key-policy.js';
import { goodCsr, reencodedCsr, weakKeyCases, type SpkiVariant } from '../../helpers/weak-keys.js';

describe('checkSubjectKey', () => {
  it.each([
    ['ok/ec-p256', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey],
    ['ok/ec-p384', generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey],
    ['ok/ed25519', generateKeyPairSync('ed25519').privateKey],
    ['ok/rsa-2048', generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey],
    ['ok/rsa-4096', generateKeyPairSync('rsa', { modulusLength: 4096 }).privateKey],
  ])('%s is accepted as a CSR and as an SPKI', (_n, key) => {
    expect(verifyCsr(csrDer(Buffer.from(goodCsr(key)))).publicKey.algorithm).toBeDefined();
    expect(() => checkSubjectKey(readPublicKeyInfo(spkiOf(key)))).not.toThrow();
  });

  const cases = weakKeyCases();
  it.each(cases.map((c) => [c.name, c] as const))('fail/%s', (_n, c) => {
    const e = (() => {
      try {
        verifyCsr(csrDer(Buffer.from(c.csr)));
      } catch (err) {
        return err as { code: string; message: string };
      }
      throw new Error('accepted');
    })();
    expect(e.code).toBe('ERR_KEY_WEAK');
    expect(e.message).toContain(c.reason);
  });
});

describe('canonical SubjectPublicKeyInfo', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  it.each([
    ['rsa without NULL', rsa],
    ['RSA modulus with a redundant zero', rsa],
    ['EC with a trailing NULL', ec],
    ['non-minimal OID', ec],
  ] as Array<[SpkiVariant, typeof rsa]>)('fail/%s: the same key written another way is refused, so its hash cannot dodge a block', (variant, key) => {
    expect(() => verifyCsr(csrDer(Buffer.from(reencodedCsr(key, variant))))).toThrow(expect.objectContaining({ code: 'ERR_CSR_MALFORMED', message: expect.stringContaining('canonical DER') }));
  });
});
