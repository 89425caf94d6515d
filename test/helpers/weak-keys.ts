// CSRs for weak public keys, made the way an attacker would: raw RSA arithmetic (any n, e, d) and EC points picked by hand.

import { checkPrimeSync, createHash, createPublicKey, generateKeyPairSync, generatePrimeSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { Tag, bitString, children, explicit, nullValue, oid, readWhole, seq, smallInteger, tlv, unsignedInteger } from '../../src/crypto/der.js';
import { toPem } from '../../src/crypto/pem.js';
import { createCsr } from '../../src/pki/csr.js';
import { distinguishedName } from '../../src/pki/extensions.js';

const big = (b: Buffer): bigint => BigInt(`0x${b.toString('hex') || '0'}`);
const bytes = (n: bigint, length?: number): Buffer => {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  const b = Buffer.from(hex, 'hex');
  return length === undefined || b.length >= length ? b : Buffer.concat([Buffer.alloc(length - b.length), b]);
};
const bitLength = (n: bigint): number => n.toString(2).length;

function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n;
  let b = base % mod;
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % mod;
    b = (b * b) % mod;
  }
  return result;
}

function modInverse(a: bigint, m: bigint): bigint {
  let [r0, r1, s0, s1] = [m, a % m, 0n, 1n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1, s0, s1] = [r1, r0 - q * r1, s1, s0 - q * s1];
  }
  if (r0 !== 1n) throw new Error('not invertible');
  return ((s0 % m) + m) % m;
}

const prime = (bits: number): bigint => generatePrimeSync(bits, { bigint: true }) as bigint;

/** A CSR (PEM) for the RSA key (n, e), signed with `d` (a valid signature when d inverts e), or with garbage. */
export function rsaCsr(n: bigint, e: bigint, d: bigint | undefined): string {
  const spki = seq(seq(oid('1.2.840.113549.1.1.1'), nullValue()), bitString(seq(unsignedInteger(bytes(n)), unsignedInteger(bytes(e)))));
  const cri = seq(smallInteger(0), distinguishedName({ commonName: 'weak' }), spki, explicit(0));
  const k = Math.ceil(bitLength(n) / 8);
  const digestInfo = Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), createHash('sha256').update(cri).digest()]);
  const em = Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(k - digestInfo.length - 3, 0xff), Buffer.from([0]), digestInfo]);
  const signature = d === undefined ? randomBytes(k) : bytes(modPow(big(em), d, n), k);
  return toPem('CERTIFICATE REQUEST', seq(cri, seq(oid('1.2.840.113549.1.1.11'), nullValue()), bitString(signature)));
}

/** A CSR (PEM) whose SubjectPublicKeyInfo is the EC point `point` on the curve `curveOid`, with a garbage signature. */
export function ecCsr(curveOid: string, point: Buffer): string {
  const spki = seq(seq(oid('1.2.840.10045.2.1'), oid(curveOid)), bitString(point));
  const cri = seq(smallInteger(0), distinguishedName({ commonName: 'weak' }), spki, explicit(0));
  return toPem('CERTIFICATE REQUEST', seq(cri, seq(oid('1.2.840.10045.4.3.2')), bitString(seq(tlv(Tag.INTEGER, Buffer.from([1])), tlv(Tag.INTEGER, Buffer.from([1]))))));
}

/** A CSR (PEM) for the Ed25519 point `point`, with an all-zero signature. */
export function ed25519Csr(point: Buffer): string {
  const spki = seq(seq(oid('1.3.101.112')), bitString(point));
  const cri = seq(smallInteger(0), distinguishedName({ commonName: 'weak' }), spki, explicit(0));
  return toPem('CERTIFICATE REQUEST', seq(cri, seq(oid('1.3.101.112')), bitString(Buffer.alloc(64))));
}

/** A CSR for a real key pair, as a client would make it. */
export const goodCsr = (key: KeyObject): string => toPem('CERTIFICATE REQUEST', createCsr(key, 'good'));

/** n = p·q of exactly `bits` bits from primes of the given sizes (retrying until the product has that length). */
function product(bits: number, make: () => [bigint, bigint]): { n: bigint; p: bigint; q: bigint } {
  for (;;) {
    const [p, q] = make();
    if (bitLength(p * q) === bits) return { n: p * q, p, q };
  }
}

/** One weak-key case: what it is, the CSR, and the words the refusal must contain. */
export interface WeakKeyCase {
  readonly name: string;
  readonly csr: string;
  readonly reason: string;
}

/** The weak-key table: RSA and EC keys a CA must never certify, each with a valid signature where one can exist. */
export function weakKeyCases(): WeakKeyCase[] {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const n = big(Buffer.from(rsa.n!, 'base64url'));
  const e3 = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 }).privateKey;
  const P256 = 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n;
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
  const x = Buffer.from(ec.x!, 'base64url');
  const y = Buffer.from(ec.y!, 'base64url');

  // Valid signatures over deliberately bad moduli: the check must not rely on the signature failing.
  const small = product(2048, () => [3n, prime(2046)]);
  const dSmall = modInverse(65537n, 2n * (small.q - 1n));
  const close = product(2048, () => {
    const p = prime(1024);
    let q = p + 2n;
    while (!checkPrimeSync(q)) q += 2n;
    return [p, q];
  });
  const dClose = modInverse(65537n, (close.p - 1n) * (close.q - 1n));
  const square = product(2048, () => {
    const p = prime(1024);
    return [p, p];
  });
  const dSquare = modInverse(65537n, square.p * (square.p - 1n));
  // A modulus with the ROCA fingerprint: r = 65537^a mod M (M the primorial of 3..167) plus a multiple of M.
  const rocaPrimes = [3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167].map(BigInt);
  const M = rocaPrimes.reduce((a, b) => a * b, 1n);
  let roca = ((1n << 2047n) / M + big(randomBytes(16))) * M + modPow(65537n, big(randomBytes(4)), M);
  if (roca % 2n === 0n) roca += M;
  const odd2052 = (big(randomBytes(257)) >> 4n) | (1n << 2051n) | 1n;

  return [
    { name: 'RSA e = 1 (any signature "verifies")', csr: rsaCsr(n, 1n, 1n), reason: 'exponent 1' },
    { name: 'RSA e = 3', csr: goodCsr(e3), reason: 'exponent 3' },
    { name: 'RSA e = 65535 (odd, below 65537)', csr: rsaCsr(n, 65535n, undefined), reason: 'exponent 65535' },
    { name: 'RSA even e = 65538', csr: rsaCsr(n, 65538n, undefined), reason: 'even RSA public exponent' },
    { name: 'RSA modulus divisible by 3', csr: rsaCsr(small.n, 65537n, dSmall), reason: 'divisible by 3' },
    { name: 'RSA modulus of close primes (Fermat)', csr: rsaCsr(close.n, 65537n, dClose), reason: "Fermat's method" },
    { name: 'RSA modulus p = q', csr: rsaCsr(square.n, 65537n, dSquare), reason: 'perfect square' },
    { name: 'RSA modulus with the ROCA fingerprint', csr: rsaCsr(roca, 65537n, undefined), reason: 'ROCA fingerprint' },
    { name: 'RSA modulus of 2052 bits (not a multiple of 8)', csr: rsaCsr(odd2052, 65537n, undefined), reason: '2052 bits (a multiple of 8' },
    { name: 'RSA modulus of 1024 bits', csr: goodCsr(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey), reason: '1024 bits' },
    { name: 'RSA modulus of 4104 bits', csr: rsaCsr((big(randomBytes(513)) | (1n << 4103n)) | 1n, 65537n, undefined), reason: '4104 bits (at most 4096)' },
    { name: 'EC point not on P-256', csr: ecCsr('1.2.840.10045.3.1.7', Buffer.concat([Buffer.from([4]), x, bytes((big(y) + 1n) % P256, 32)])), reason: 'not on P-256' },
    { name: 'EC point at infinity', csr: ecCsr('1.2.840.10045.3.1.7', Buffer.from([0])), reason: 'point at infinity' },
    { name: 'EC point (0, 0)', csr: ecCsr('1.2.840.10045.3.1.7', Buffer.concat([Buffer.from([4]), Buffer.alloc(64)])), reason: 'point at infinity' },
    { name: 'EC coordinate not below the field prime', csr: ecCsr('1.2.840.10045.3.1.7', Buffer.concat([Buffer.from([4]), bytes(P256, 32), y])), reason: 'not below the field prime' },
    { name: 'EC compressed point', csr: ecCsr('1.2.840.10045.3.1.7', Buffer.concat([Buffer.from([2 | (y[31]! & 1)]), x])), reason: 'compressed' },
    { name: 'EC curve P-521', csr: ecCsr('1.3.132.0.35', Buffer.concat([Buffer.from([4]), Buffer.alloc(132, 1)])), reason: 'P-521' },
    { name: 'EC curve secp256k1', csr: ecCsr('1.3.132.0.10', Buffer.concat([Buffer.from([4]), x, y])), reason: '1.3.132.0.10' },
    { name: 'Ed25519 identity point (order 1)', csr: ed25519Csr(Buffer.concat([Buffer.from([1]), Buffer.alloc(31)])), reason: 'small order' },
    { name: 'Ed25519 point of order 8', csr: ed25519Csr(Buffer.from('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85', 'hex')), reason: 'small order' },
  ];
}

/** Ways to write the same public key differently in a SubjectPublicKeyInfo. */
export type SpkiVariant = 'rsa without NULL' | 'EC with a trailing NULL' | 'non-minimal OID' | 'RSA modulus with a redundant zero';

/**
 * A CSR for `key`, validly signed by it, whose SubjectPublicKeyInfo holds the same key written another way: how
 * someone with a blocked key would try to get it past a block keyed on the SPKI's bytes.
 */
export function reencodedCsr(key: KeyObject, variant: SpkiVariant): string {
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const [algId, bits] = children(readWhole(spki, Tag.SEQUENCE, 'spki').value);
  const [algOid, params] = children(algId!.value);
  let reencoded: Buffer;
  switch (variant) {
    case 'rsa without NULL':
      reencoded = seq(seq(algOid!.raw), bits!.raw);
      break;
    case 'EC with a trailing NULL':
      reencoded = seq(seq(algOid!.raw, params!.raw, nullValue()), bits!.raw);
      break;
    case 'non-minimal OID': {
      // 1.2.840.10045.2.1 with the arc 840 written as 0x80 0x86 0x48 instead of 0x86 0x48.
      const body = algOid!.value;
      const bad = Buffer.concat([body.subarray(0, 1), Buffer.from([0x80]), body.subarray(1)]);
      reencoded = seq(seq(tlv(Tag.OID, bad), ...(params ? [params.raw] : [])), bits!.raw);
      break;
    }
    case 'RSA modulus with a redundant zero': {
      const [n, e] = children(readWhole(bits!.value.subarray(1), Tag.SEQUENCE, 'rsa').value);
      reencoded = seq(algId!.raw, bitString(seq(tlv(Tag.INTEGER, Buffer.concat([Buffer.alloc(1), n!.value])), e!.raw)));
      break;
    }
  }
  const cri = seq(smallInteger(0), distinguishedName({ commonName: 'reencoded' }), reencoded, explicit(0));
  const isRsa = key.asymmetricKeyType === 'rsa';
  const signature = sign('sha256', cri, key);
  return toPem('CERTIFICATE REQUEST', seq(cri, isRsa ? seq(oid('1.2.840.113549.1.1.11'), nullValue()) : seq(oid('1.2.840.10045.4.3.2')), bitString(signature)));
}
