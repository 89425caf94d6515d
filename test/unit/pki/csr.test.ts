import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { csrDer, verifyCsr } from '../../../src/pki/csr.js';
import { makeCsr } from '../../helpers/csr.js';

describe('verifyCsr', () => {
  it.each([
    ['ok/P-256', 'ec-p256', 'ec'],
    ['ok/P-384', 'ec-p384', 'ec'],
    ['ok/Ed25519', 'ed25519', 'ed25519'],
    ['ok/RSA 2048', 'rsa-2048', 'rsa'],
  ] as const)('%s', async (_n, type, algorithm) => {
    const csr = await makeCsr(type);
    const verified = verifyCsr(csr.der);
    expect(verified.publicKey.algorithm).toBe(algorithm);
    expect(verified.publicKey.spki.equals(csr.spki)).toBe(true);
    expect(verifyCsr(csrDer(Buffer.from(csr.pem))).publicKey.spki.equals(csr.spki)).toBe(true);
  });

  it('fail/signature does not verify when a byte of the request info changes', async () => {
    const csr = await makeCsr('ec-p256');
    const tampered = Buffer.from(csr.der);
    const at = tampered.indexOf(Buffer.from('requested'));
    tampered[at] = 'R'.charCodeAt(0);
    expect(() => verifyCsr(tampered)).toThrow(expect.objectContaining({ code: 'ERR_CSR_SIGNATURE', message: 'pki: CSR signature does not verify' }));
  });

  it('fail/signature from another key (the CSR claims a key it does not hold)', async () => {
    const a = await makeCsr('ec-p256');
    const b = await makeCsr('ec-p256');
    const swapped = Buffer.from(a.der);
    const at = swapped.indexOf(a.spki);
    b.spki.copy(swapped, at);
    expect(() => verifyCsr(swapped)).toThrow(expect.objectContaining({ code: 'ERR_CSR_SIGNATURE' }));
  });

  it.each([
    ['fail/RSA 1024', 'rsa-1024', 'ERR_KEY_WEAK'],
    ['fail/P-521', 'ec-p521', 'ERR_KEY_WEAK'],
  ] as const)('%s', async (_n, type, code) => {
    const csr = await makeCsr(type);
    expect(() => verifyCsr(csr.der)).toThrow(expect.objectContaining({ code }));
  });

  it.each([
    ['fail/empty', Buffer.alloc(0)],
    ['fail/not DER', Buffer.from('hello world')],
    ['fail/a certificate-shaped sequence', Buffer.from('3003020101', 'hex')],
  ])('%s', (_n, der) => {
    expect(() => verifyCsr(der)).toThrow(expect.objectContaining({ code: 'ERR_CSR_MALFORMED' }));
  });

  it('fail/PEM without a request block', () => {
    expect(() => csrDer(Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'))).toThrow(expect.objectContaining({ code: 'ERR_PEM_INVALID' }));
  });

  it('every truncation or random corruption of a CSR is refused with a typed error', async () => {
    const csr = await makeCsr('ec-p256');
    fc.assert(
      fc.property(fc.nat(csr.der.length - 1), fc.nat(csr.der.length - 1), fc.integer({ min: 1, max: 255 }), (cut, pos, xor) => {
        for (const bad of [csr.der.subarray(0, cut), Buffer.from(csr.der).fill(csr.der[pos]! ^ xor, pos, pos + 1)]) {
          try {
            verifyCsr(bad);
            // a flipped bit in the signature's DER padding could still verify only if unchanged; anything else must throw
            expect(bad.equals(csr.der)).toBe(true);
          } catch (e) {
            expect(['ERR_CSR_MALFORMED', 'ERR_CSR_SIGNATURE', 'ERR_SIGNATURE_ALGORITHM_UNSUPPORTED', 'ERR_KEY_WEAK', 'ERR_KEY_TYPE_UNSUPPORTED']).toContain((e as { code: string }).code);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
