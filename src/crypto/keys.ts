// Key pairs meshca makes and accepts, and the signature algorithm each issuer key signs with.

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { CaError } from '../errors.js';
import { Tag, bitString, children, expectTag, nullValue, oid, oidToString, readWhole, seq, unsignedInteger } from './der.js';

/** Key types accepted by `--key-type`. */
export const KEY_TYPES = ['ec-p256', 'ec-p384', 'ed25519', 'rsa-2048', 'rsa-3072'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

/** Parses a `--key-type` value. */
export function parseKeyType(value: string): KeyType {
  if ((KEY_TYPES as readonly string[]).includes(value)) return value as KeyType;
  throw new CaError('ERR_KEY_TYPE_UNSUPPORTED', `crypto: unknown key type "${value}" (expected one of ${KEY_TYPES.join(', ')})`);
}

/** Generates a fresh key pair of `type`. */
export function generateKeyPair(type: KeyType): { privateKey: KeyObject; publicKey: KeyObject } {
  switch (type) {
    case 'ec-p256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'ec-p384':
      return generateKeyPairSync('ec', { namedCurve: 'P-384' });
    case 'ed25519':
      return generateKeyPairSync('ed25519');
    case 'rsa-2048':
      return generateKeyPairSync('rsa', { modulusLength: 2048 });
    case 'rsa-3072':
      return generateKeyPairSync('rsa', { modulusLength: 3072 });
  }
}

const OID = {
  ecPublicKey: '1.2.840.10045.2.1',
  p256: '1.2.840.10045.3.1.7',
  p384: '1.3.132.0.34',
  p521: '1.3.132.0.35',
  rsaEncryption: '1.2.840.113549.1.1.1',
  ed25519: '1.3.101.112',
} as const;

/** What a public key is, read from its SubjectPublicKeyInfo. */
export interface PublicKeyInfo {
  readonly algorithm: 'ec' | 'rsa' | 'ed25519';
  /** `P-256`, `P-384` for EC; modulus bits for RSA. */
  readonly curve?: 'P-256' | 'P-384' | 'P-521';
  readonly modulusBits?: number;
  /** The SubjectPublicKeyInfo DER, as given. */
  readonly spki: Buffer;
  /** The subjectPublicKey BIT STRING's key bytes (RFC 5280 §4.2.1.2 method 1 hashes these). */
  readonly keyBytes: Buffer;
}

/**
 * Reads a SubjectPublicKeyInfo and refuses keys meshca will not certify (RSA under 2048 bits, curves other
 * than P-256/P-384, anything but EC, RSA and Ed25519).
 */
export function readPublicKeyInfo(spki: Buffer): PublicKeyInfo {
  try {
    const [algId, key] = children(readWhole(spki, Tag.SEQUENCE, 'SubjectPublicKeyInfo').value);
    const [algOid, params] = children(expectTag(algId, Tag.SEQUENCE, 'algorithm').value);
    const bits = expectTag(key, Tag.BIT_STRING, 'subjectPublicKey').value;
    if (bits[0] !== 0) throw new CaError('ERR_KEY_INVALID', 'crypto: public key bit string has unused bits');
    const keyBytes = bits.subarray(1);
    const alg = oidToString(expectTag(algOid, Tag.OID, 'algorithm OID').value);
    // One key has one encoding: a key hash (what keyCompromise blocks) must not change with how the SPKI is written.
    const canonical = (algorithm: Buffer, key: Buffer): void => {
      if (!seq(algorithm, bitString(key)).equals(spki)) throw new CaError('ERR_KEY_INVALID', 'crypto: the public key is not in canonical DER (extra or missing algorithm parameters, or a non-minimal encoding)');
    };
    if (alg === OID.ed25519) {
      canonical(seq(oid(OID.ed25519)), keyBytes);
      return { algorithm: 'ed25519', spki, keyBytes };
    }
    if (alg === OID.ecPublicKey) {
      const curveOid = oidToString(expectTag(params, Tag.OID, 'named curve').value);
      const curve = curveOid === OID.p256 ? 'P-256' : curveOid === OID.p384 ? 'P-384' : curveOid === OID.p521 ? 'P-521' : undefined;
      if (curve !== 'P-256' && curve !== 'P-384') throw new CaError('ERR_KEY_WEAK', `crypto: EC curve ${curve ?? curveOid} is not accepted (use P-256 or P-384)`);
      canonical(seq(oid(OID.ecPublicKey), oid(curveOid)), keyBytes);
      return { algorithm: 'ec', curve, spki, keyBytes };
    }
    if (alg === OID.rsaEncryption) {
      const [n, e] = children(readWhole(keyBytes, Tag.SEQUENCE, 'RSAPublicKey').value).map((el, i) => expectTag(el, Tag.INTEGER, i === 0 ? 'modulus' : 'publicExponent').value);
      if (n === undefined || e === undefined) throw new CaError('ERR_DER_INVALID', 'der: RSAPublicKey needs a modulus and an exponent');
      const leading = n.findIndex((b) => b !== 0);
      const modulusBits = leading < 0 ? 0 : (n.length - leading - 1) * 8 + n[leading]!.toString(2).length;
      if (modulusBits < 2048) throw new CaError('ERR_KEY_WEAK', `crypto: RSA key of ${modulusBits} bits is too short (at least 2048)`);
      canonical(seq(oid(OID.rsaEncryption), nullValue()), seq(unsignedInteger(n), unsignedInteger(e)));
      return { algorithm: 'rsa', modulusBits, spki, keyBytes };
    }
    throw new CaError('ERR_KEY_TYPE_UNSUPPORTED', `crypto: public key algorithm ${alg} is not accepted`);
  } catch (e) {
    if (e instanceof CaError && e.code !== 'ERR_DER_INVALID') throw e;
    throw new CaError('ERR_KEY_INVALID', 'crypto: public key is not a valid SubjectPublicKeyInfo', { cause: e });
  }
}

/** The SubjectPublicKeyInfo DER of a key (private keys yield their public half). */
export function spkiOf(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ type: 'spki', format: 'der' });
}

/** Hex SHA-256 of a SubjectPublicKeyInfo DER: how a key is named when it is blocked or looked up. */
export function subjectKeyHash(spki: Buffer): string {
  return createHash('sha256').update(spki).digest('hex');
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
export function keyIdentifier(key: Buffer | PublicKeyInfo): Buffer {
  const info = Buffer.isBuffer(key) ? readPublicKeyInfo(key) : key;
  return createHash('sha1').update(info.keyBytes).digest();
}

/** How an issuer key signs: the AlgorithmIdentifier written into what it signs, and the node:crypto digest. */
export interface SignatureAlgorithm {
  readonly name: 'ecdsa-with-SHA256' | 'ecdsa-with-SHA384' | 'Ed25519' | 'sha256WithRSAEncryption';
  /** The DER AlgorithmIdentifier. */
  readonly identifier: Buffer;
  /** The digest passed to node:crypto `sign`, or null for Ed25519. */
  readonly digest: 'sha256' | 'sha384' | null;
}

const SIG_ECDSA_SHA256: SignatureAlgorithm = { name: 'ecdsa-with-SHA256', identifier: seq(oid('1.2.840.10045.4.3.2')), digest: 'sha256' };
const SIG_ECDSA_SHA384: SignatureAlgorithm = { name: 'ecdsa-with-SHA384', identifier: seq(oid('1.2.840.10045.4.3.3')), digest: 'sha384' };
const SIG_ED25519: SignatureAlgorithm = { name: 'Ed25519', identifier: seq(oid('1.3.101.112')), digest: null };
const SIG_RSA_SHA256: SignatureAlgorithm = { name: 'sha256WithRSAEncryption', identifier: seq(oid('1.2.840.113549.1.1.11'), nullValue()), digest: 'sha256' };

/** The signature algorithm an issuer key of this kind uses. */
export function signatureAlgorithmFor(key: KeyObject): SignatureAlgorithm {
  switch (key.asymmetricKeyType) {
    case 'ec':
      return key.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? SIG_ECDSA_SHA384 : SIG_ECDSA_SHA256;
    case 'ed25519':
      return SIG_ED25519;
    case 'rsa':
      return SIG_RSA_SHA256;
    default:
      throw new CaError('ERR_KEY_TYPE_UNSUPPORTED', `crypto: cannot sign with a ${key.asymmetricKeyType ?? 'unknown'} key`);
  }
}

/** A private key ready to sign, imported once (importing per call costs ~0.4 ms). */
export interface Signer {
  readonly algorithm: SignatureAlgorithm;
  sign(data: Buffer): Buffer;
}

/** Wraps a private key as a {@link Signer}. */
export function signerFor(privateKey: KeyObject): Signer {
  const algorithm = signatureAlgorithmFor(privateKey);
  return { algorithm, sign: (data) => sign(algorithm.digest, data, privateKey) };
}

/** Wraps signed bytes, their algorithm and signature as `SEQUENCE { tbs, algorithm, BIT STRING }`. */
export function signedEnvelope(tbs: Buffer, signer: Signer): Buffer {
  return seq(tbs, signer.algorithm.identifier, bitString(signer.sign(tbs)));
}

/** Serializes a private key as PKCS#8 PEM, encrypted (PBES2, AES-256-CBC) when a passphrase is given. */
export function privateKeyToPem(key: KeyObject, passphrase?: string): string {
  return passphrase === undefined
    ? (key.export({ type: 'pkcs8', format: 'pem' }) as string)
    : (key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }) as string);
}

/** True when a PEM private key is encrypted PKCS#8. */
export function isEncryptedPem(pem: string): boolean {
  return pem.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----');
}

/** Loads a PEM private key, turning passphrase problems into clear errors that never echo the key. */
export function privateKeyFromPem(pem: string, passphrase: string | undefined, what: string): KeyObject {
  const encrypted = isEncryptedPem(pem);
  if (encrypted && passphrase === undefined) {
    throw new CaError('ERR_PASSPHRASE_REQUIRED', `crypto: the ${what} is encrypted: set CA_PASSPHRASE or pass --passphrase-file`);
  }
  try {
    return createPrivateKey(encrypted ? { key: pem, format: 'pem', passphrase: passphrase! } : { key: pem, format: 'pem' });
  } catch (e) {
    if (encrypted) throw new CaError('ERR_PASSPHRASE_WRONG', `crypto: wrong passphrase for the ${what}`);
    throw new CaError('ERR_KEY_INVALID', `crypto: the ${what} is not a readable PEM private key`, { cause: e });
  }
}

/** Signature algorithms meshca verifies (CSRs, CRLs, OCSP responses), by OID: digest and the key type they need. */
const VERIFIABLE: Record<string, { digest: string | null; key: PublicKeyInfo['algorithm'] }> = {
  '1.2.840.10045.4.3.2': { digest: 'sha256', key: 'ec' },
  '1.2.840.10045.4.3.3': { digest: 'sha384', key: 'ec' },
  '1.2.840.10045.4.3.4': { digest: 'sha512', key: 'ec' },
  '1.3.101.112': { digest: null, key: 'ed25519' },
  '1.2.840.113549.1.1.11': { digest: 'sha256', key: 'rsa' },
  '1.2.840.113549.1.1.12': { digest: 'sha384', key: 'rsa' },
  '1.2.840.113549.1.1.13': { digest: 'sha512', key: 'rsa' },
};

/** True when `algorithmOid` is one meshca can verify. */
export function isVerifiableAlgorithm(algorithmOid: string): boolean {
  return algorithmOid in VERIFIABLE;
}

/**
 * The public key as a node:crypto KeyObject. Uncompressed EC points are imported as JWK coordinates, which
 * OpenSSL 3 decodes in less than half the time of the DER SubjectPublicKeyInfo (measured 78 vs 181 µs for P-256);
 * the point is still checked to lie on the curve.
 */
export function publicKeyObject(key: PublicKeyInfo): KeyObject {
  // Importing a key costs more than an ECDSA verification: the few keys a process checks (its issuers, their OCSP
  // signers) are imported once.
  const id = key.spki.toString('base64');
  let imported = importedKeys.get(id);
  if (imported === undefined) {
    imported = importPublicKey(key);
    if (importedKeys.size >= 256) importedKeys.delete(importedKeys.keys().next().value!);
    importedKeys.set(id, imported);
  }
  return imported;
}

const importedKeys = new Map<string, KeyObject>();

function importPublicKey(key: PublicKeyInfo): KeyObject {
  if (key.algorithm === 'ec') {
    const size = key.curve === 'P-256' ? 32 : 48;
    const point = key.keyBytes;
    if (point.length === 1 + 2 * size && point[0] === 0x04) {
      const jwk = { kty: 'EC', crv: key.curve, x: point.subarray(1, 1 + size).toString('base64url'), y: point.subarray(1 + size).toString('base64url') };
      return createPublicKey({ key: jwk, format: 'jwk' });
    }
  }
  return createPublicKey({ key: key.spki, format: 'der', type: 'spki' });
}

/** Verifies `signature` over `data` by `key`; false for a mismatched key type, an unusable key or a bad signature. */
export function verifySignature(algorithmOid: string, data: Buffer, signature: Buffer, key: PublicKeyInfo): boolean {
  const scheme = VERIFIABLE[algorithmOid];
  if (!scheme || scheme.key !== key.algorithm) return false;
  try {
    return verify(scheme.digest, data, publicKeyObject(key), signature);
  } catch {
    return false;
  }
}
