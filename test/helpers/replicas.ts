// What replica tests share: a copy of a CA directory for another replica, and what a relying party asks of any replica.

import { cpSync } from 'node:fs';
import { readPublicKeyInfo } from '../../src/crypto/keys.js';
import { readPemLabelled } from '../../src/crypto/pem.js';
import { x509 } from '../../src/crypto/x509.js';
import { readCertificate } from '../../src/pki/certificate.js';
import { readCrl } from '../../src/revocation/crl.js';
import { createOcspRequest } from '../../src/revocation/ocsp.js';
import { verifyOcspResponse } from '../../src/revocation/ocsp-verify.js';

/** A replica's CA directory: what an operator copies (config.json, root.pem, private/), not another replica's lock. */
export function copyReplica(from: string, to: string): string {
  cpSync(from, to, { recursive: true, filter: (src) => !/serve\.lock$|\.log$/.test(src) });
  return to;
}

/** Polls `check` every `everyMs` until it holds, or fails after `ms` naming `what`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 30_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await Promise.resolve().then(check).catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * The status a replica's OCSP responder gives `leafPem` (issued by the first certificate of `chainPem`), asked the
 * way RFC 5019 clients ask: GET without a nonce, so a pre-signed answer is what comes back when there is one.
 */
export async function ocspStatus(httpUrl: string, leafPem: string, chainPem: string): Promise<string> {
  const leaf = readCertificate(readPemLabelled(leafPem, ['CERTIFICATE'], 'leaf')[0]!);
  const issuer = readCertificate(readPemLabelled(chainPem, ['CERTIFICATE'], 'chain')[0]!);
  const request = createOcspRequest({ issuerSubject: issuer.subject, issuerKeyBits: readPublicKeyInfo(issuer.spki).keyBytes, serial: Buffer.from(leaf.serial, 'hex') });
  const r = await fetch(`${httpUrl}/ocsp/${encodeURIComponent(request.toString('base64'))}`);
  return verifyOcspResponse(Buffer.from(await r.arrayBuffer()), { leaf, issuer, nonce: undefined, now: new Date() }).status;
}

/** The number of a replica's current intermediate CRL, and whether it lists `serial`. */
export async function crlNumber(httpUrl: string, serial?: string): Promise<{ number: bigint; listed: boolean }> {
  const der = Buffer.from(await (await fetch(`${httpUrl}/crl/intermediate.crl`)).arrayBuffer());
  const listed = serial !== undefined && new x509.X509Crl(der).entries.some((e) => e.serialNumber.toLowerCase() === serial);
  return { number: readCrl(der).number ?? 0n, listed };
}
