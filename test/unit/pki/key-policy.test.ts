import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readPublicKeyInfo, spkiOf } from '../../../src/crypto/keys.js';
import { csrDer, verifyCsr } from '../../../src/pki/csr.js';
import { checkSubjectKey } from '../../../src/pki/key-policy.js';
import { goodCsr, weakKeyCases } from '../../helpers/weak-keys.js';

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
