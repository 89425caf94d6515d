// Which subject public keys the CA certifies: Boulder-style checks of RSA moduli and exponents, EC points, and Ed25519 points.

import { Tag, children, expectTag, readWhole } from '../crypto/der.js';
import type { PublicKeyInfo } from '../crypto/keys.js';
import { CaError } from '../errors.js';

function weak(why: string): never {
  throw new CaError('ERR_KEY_WEAK', `pki: the public key is weak: ${why}`);
}

const toBig = (bytes: Buffer): bigint => (bytes.length === 0 ? 0n : BigInt(`0x${bytes.toString('hex')}`));
const bitLength = (n: bigint): number => (n === 0n ? 0 : n.toString(2).length);

/** Odd primes below 752, the trial divisors of the CA/Browser Forum's "no factors smaller than 752" (2 is the oddness check). */
const SMALL_PRIMES: readonly bigint[] = (() => {
  const primes: bigint[] = [];
  for (let n = 3; n < 752; n += 2) if (primes.every((p) => BigInt(n) % p !== 0n)) primes.push(BigInt(n));
  return primes;
})();

/**
 * ROCA (CVE-2017-15361): Infineon's library made primes p = k·M + (65537^a mod M) for the primorial M, so every
 * such modulus lies, modulo each of the primes 3..167, in the subgroup 65537 generates. A random modulus does so
 * for all 38 with probability about 2^-154; these keys factor in CPU-months. Each entry: the prime, and the
 * bitmask of the residues in that subgroup (the check Boulder runs through rocacheck).
 */
const ROCA_PRINTS: readonly { p: bigint; mask: bigint }[] = [3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167].map((p) => {
  let mask = 0n;
  for (let r = 1, i = 0; i < p; i++, r = (r * (65537 % p)) % p) mask |= 1n << BigInt(r);
  return { p: BigInt(p), mask };
});

function hasRocaFingerprint(n: bigint): boolean {
  return ROCA_PRINTS.every(({ p, mask }) => ((1n << (n % p)) & mask) !== 0n);
}

/** floor(sqrt(n)) by Newton's method. */
function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt(Math.ceil(bitLength(n) / 2));
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/** Squares modulo 64, 63, 65 and 11: a number that is not a square modulo each of them is not a square. */
const RESIDUES = [64n, 63n, 65n, 11n].map((m) => ({ m, squares: new Set(Array.from({ length: Number(m) }, (_, i) => (BigInt(i) * BigInt(i)) % m)) }));

function isSquare(n: bigint): boolean {
  if (!RESIDUES.every(({ m, squares }) => squares.has(n % m))) return false;
  const r = isqrt(n);
  return r * r === n;
}

/** Fermat's method for this many steps from sqrt(n): finds p and q when they share their top half (Boulder uses 100). */
const FERMAT_ROUNDS = 100;

function checkRsa(keyBytes: Buffer): void {
  let n: bigint, e: bigint;
  try {
    const [nEl, eEl, ...extra] = children(readWhole(keyBytes, Tag.SEQUENCE, 'RSAPublicKey').value);
    if (extra.length > 0) throw new Error('extra fields');
    const nBytes = expectTag(nEl, Tag.INTEGER, 'modulus').value;
    const eBytes = expectTag(eEl, Tag.INTEGER, 'publicExponent').value;
    if ((nBytes[0]! & 0x80) !== 0 || (eBytes[0]! & 0x80) !== 0) weak('a negative modulus or exponent');
    n = toBig(nBytes);
    e = toBig(eBytes);
  } catch (err) {
    if (err instanceof CaError && err.code === 'ERR_KEY_WEAK') throw err;
    throw new CaError('ERR_KEY_INVALID', 'pki: the RSA public key is not a well-formed RSAPublicKey', { cause: err });
  }
  const bits = bitLength(n);
  if (bits < 2048) weak(`an RSA modulus of ${bits} bits (at least 2048)`);
  if (bits > 4096) weak(`an RSA modulus of ${bits} bits (at most 4096)`);
  if (bits % 8 !== 0) weak(`an RSA modulus of ${bits} bits (a multiple of 8 expected)`);
  if (e % 2n === 0n) weak('an even RSA public exponent');
  if (e < 65537n) weak(`the RSA public exponent ${e} (at least 65537)`);
  if (bitLength(e) > 256) weak('an RSA public exponent above 2^256 - 1');
  if (e >= n) weak('an RSA public exponent not below the modulus');
  if (n % 2n === 0n) weak('an even RSA modulus');
  if (hasRocaFingerprint(n)) weak('the RSA modulus has the ROCA fingerprint (CVE-2017-15361: made by a vulnerable Infineon library)');
  const factor = SMALL_PRIMES.find((p) => n % p === 0n);
  if (factor !== undefined) weak(`the RSA modulus is divisible by ${factor}`);
  if (isSquare(n)) weak('the RSA modulus is a perfect square (p = q)');
  // n = a² - b² = (a + b)(a - b): from a = ceil(sqrt(n)), b² = a² - n grows by 2a + 1 per step.
  let a = isqrt(n) + 1n;
  let b2 = a * a - n;
  for (let round = 0; round < FERMAT_ROUNDS; round++) {
    if (isSquare(b2)) weak(`the RSA modulus factors by Fermat's method in ${round + 1} steps (its primes are too close)`);
    b2 += 2n * a + 1n;
    a += 1n;
  }
}

/** The NIST prime curves meshca certifies: y² = x³ - 3x + b over GF(p), cofactor 1. */
const CURVES: Record<'P-256' | 'P-384', { p: bigint; b: bigint; size: number }> = {
  'P-256': {
    p: 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
    size: 32,
  },
  'P-384': {
    p: 2n ** 384n - 2n ** 128n - 2n ** 96n + 2n ** 32n - 1n,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
    size: 48,
  },
};

/** NIST SP 800-56A §5.6.2.3.3: not the identity, coordinates in [0, p-1], on the curve (the order follows from cofactor 1). */
function checkEc(curveName: PublicKeyInfo['curve'], point: Buffer): void {
  if (curveName !== 'P-256' && curveName !== 'P-384') weak(`the EC curve ${curveName ?? 'unknown'} is not accepted (P-256 or P-384)`);
  const curve = CURVES[curveName];
  if (point.length === 1 && point[0] === 0x00) weak('the EC point is the point at infinity');
  if (point[0] === 0x02 || point[0] === 0x03) weak('compressed EC points are not accepted');
  if (point[0] !== 0x04 || point.length !== 1 + 2 * curve.size) weak(`the EC point is not an uncompressed ${curveName} point`);
  const x = toBig(point.subarray(1, 1 + curve.size));
  const y = toBig(point.subarray(1 + curve.size));
  if (x === 0n && y === 0n) weak('the EC point is the point at infinity');
  if (x >= curve.p || y >= curve.p) weak('an EC coordinate is not below the field prime');
  const { p, b } = curve;
  const lhs = (y * y) % p;
  const rhs = (((x * x) % p) * x - 3n * x + b) % p;
  if (lhs !== (rhs + p) % p) weak(`the EC point is not on ${curveName}`);
}

const ED25519_P = 2n ** 255n - 19n;

/** Encodings of the eight points of small order (sign bit ignored), as libsodium refuses them. */
const ED25519_SMALL_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map((h) => Buffer.from(h, 'hex'));

function checkEd25519(keyBytes: Buffer): void {
  if (keyBytes.length !== 32) weak('an Ed25519 key must be 32 bytes');
  const unsigned = Buffer.from(keyBytes);
  unsigned[31]! &= 0x7f;
  if (ED25519_SMALL_ORDER.some((s) => s.equals(unsigned))) weak('the Ed25519 point has small order');
  if (toBig(Buffer.from(unsigned).reverse()) >= ED25519_P) weak('the Ed25519 point is not canonically encoded');
}

/**
 * Refuses a subject key no one should hold a certificate for (`ERR_KEY_WEAK` with the reason): RSA moduli of
 * 2048-4096 bits (multiples of 8), odd, without the ROCA fingerprint, without factors below 752, not a square,
 * not factorable by 100 steps of Fermat's method, with an odd exponent of at least 65537; EC points on P-256 or P-384, uncompressed, not the
 * identity; Ed25519 points canonical and not of small order. Run on sign, renew and rekey alike.
 *
 * @example
 * checkSubjectKey(readPublicKeyInfo(spki)) // throws ERR_KEY_WEAK for an RSA key with e = 3
 */
export function checkSubjectKey(key: PublicKeyInfo): void {
  switch (key.algorithm) {
    case 'rsa':
      return checkRsa(key.keyBytes);
    case 'ec':
      return checkEc(key.curve, key.keyBytes);
    case 'ed25519':
      return checkEd25519(key.keyBytes);
  }
}
