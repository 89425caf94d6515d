// CSRs made by a foreign writer (@peculiar/x509's generator over WebCrypto), for every key type meshca accepts and some it refuses.

import { webcrypto } from 'node:crypto';
import { x509 } from '../../src/crypto/x509.js';

type CsrKey = 'ec-p256' | 'ec-p384' | 'ed25519' | 'rsa-2048' | 'rsa-1024' | 'ec-p521';

const ALGORITHMS: Record<CsrKey, { gen: webcrypto.AlgorithmIdentifier | webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams; sign: webcrypto.AlgorithmIdentifier | webcrypto.EcdsaParams }> = {
  'ec-p256': { gen: { name: 'ECDSA', namedCurve: 'P-256' } as webcrypto.EcKeyGenParams, sign: { name: 'ECDSA', hash: 'SHA-256' } as webcrypto.EcdsaParams },
  'ec-p384': { gen: { name: 'ECDSA', namedCurve: 'P-384' } as webcrypto.EcKeyGenParams, sign: { name: 'ECDSA', hash: 'SHA-384' } as webcrypto.EcdsaParams },
  'ec-p521': { gen: { name: 'ECDSA', namedCurve: 'P-521' } as webcrypto.EcKeyGenParams, sign: { name: 'ECDSA', hash: 'SHA-512' } as webcrypto.EcdsaParams },
  ed25519: { gen: { name: 'Ed25519' }, sign: { name: 'Ed25519' } },
  'rsa-2048': { gen: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, sign: { name: 'RSASSA-PKCS1-v1_5' } },
  'rsa-1024': { gen: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, sign: { name: 'RSASSA-PKCS1-v1_5' } },
};

/** A CSR (DER) for a fresh key of `type`, with `names` in a SAN extension the CA must ignore. */
export async function makeCsr(type: CsrKey = 'ec-p256', options: { dnsNames?: string[] } = {}): Promise<{ der: Buffer; pem: string; spki: Buffer }> {
  const alg = ALGORITHMS[type];
  const keys = (await webcrypto.subtle.generateKey(alg.gen as webcrypto.EcKeyGenParams, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=requested',
    keys: keys as unknown as CryptoKeyPair,
    signingAlgorithm: alg.sign as Algorithm,
    extensions: options.dnsNames ? [new x509.SubjectAlternativeNameExtension(options.dnsNames.map((value) => ({ type: 'dns' as const, value })))] : [],
  });
  const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey));
  return { der: Buffer.from(csr.rawData), pem: csr.toString('pem'), spki };
}
