// `ca ocsp`: ask the responder named in a certificate for its status, and verify the answer.

import { fetchBytes } from '../../client/fetch.js';
import { Tag, children, oidToString, readWhole } from '../../crypto/der.js';
import { readPemLabelled } from '../../crypto/pem.js';
import { CaError } from '../../errors.js';
import { readCertificate, signedBy, type CertificateView } from '../../pki/certificate.js';
import { OID } from '../../pki/oids.js';
import { ocspRequestFor, verifyOcspResponse } from '../../revocation/ocsp-verify.js';
import { readInputFile } from '../io.js';
import type { CommandOutput } from '../output.js';

/** The OCSP URL in a certificate's authorityInfoAccess. */
function ocspUrl(cert: CertificateView): string {
  const aia = cert.extensions.get(OID.authorityInfoAccess);
  if (aia) {
    for (const ad of children(readWhole(aia.value, Tag.SEQUENCE, 'AIA').value)) {
      const [method, location] = children(ad.value);
      if (method && location && oidToString(method.value) === OID.accessOcsp && location.tag === 0x86) return location.value.toString('latin1');
    }
  }
  throw new CaError('ERR_USAGE', 'cli: the certificate names no OCSP responder (no authorityInfoAccess OCSP URL); pass --url');
}

export async function ocsp(args: { cert: string; caBundle?: string; url?: string }): Promise<CommandOutput> {
  const chain = readPemLabelled(readInputFile(args.cert, 'certificate').toString('utf8'), ['CERTIFICATE'], 'certificate file').map(readCertificate);
  const [leaf, issuer] = chain;
  if (!leaf || !issuer) throw new CaError('ERR_USAGE', `cli: ${args.cert} must hold the certificate followed by its issuer (as ca issue writes it)`);
  if (!signedBy(leaf, issuer)) throw new CaError('ERR_TLS_TRUST', `cli: the second certificate in ${args.cert} did not issue the first`);
  if (args.caBundle !== undefined) {
    const roots = readPemLabelled(readInputFile(args.caBundle, 'CA bundle').toString('utf8'), ['CERTIFICATE'], 'CA bundle').map(readCertificate);
    if (!roots.some((r) => signedBy(issuer, r))) throw new CaError('ERR_TLS_TRUST', `cli: the issuer in ${args.cert} does not chain to --ca-bundle`);
  }
  const url = args.url ?? ocspUrl(leaf);
  const request = ocspRequestFor(leaf, issuer);
  // Whatever fails names the responder asked: with two CAs on one machine, the URL in a certificate may not be
  // the CA that issued it.
  const named = (e: unknown): never => {
    if (e instanceof CaError) throw new CaError(e.code, `${e.message} (asked the OCSP responder ${url}${args.url === undefined ? ', named in the certificate' : ''})`, { cause: e });
    throw e;
  };
  const der = await fetchBytes(url, { method: 'POST', body: request.der, contentType: 'application/ocsp-request' }).catch(named);
  let v: ReturnType<typeof verifyOcspResponse>;
  try {
    v = verifyOcspResponse(der, { leaf, issuer, nonce: request.nonce, now: new Date() });
  } catch (e) {
    named(e);
    throw e;
  }
  const data = {
    serial: leaf.serial,
    status: v.status,
    revokedAt: v.revokedAt?.toISOString() ?? null,
    reason: v.reason,
    thisUpdate: v.thisUpdate.toISOString(),
    nextUpdate: v.nextUpdate?.toISOString() ?? null,
    producedAt: v.producedAt.toISOString(),
    signedBy: v.signedBy,
    nonceEchoed: v.nonceEchoed,
    responder: url,
  };
  const fresh = v.nonceEchoed ? '' : `; a pre-signed answer (no nonce echoed), produced at ${data.producedAt}`;
  const human = `${leaf.serial}: ${v.status}${v.status === 'revoked' ? ` at ${data.revokedAt} (${v.reason})` : ''} (response verified, signed by the ${v.signedBy}; next update ${data.nextUpdate ?? 'none'}${fresh})`;
  return { data, human };
}
