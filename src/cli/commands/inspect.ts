// `ca inspect`: a readable view of a certificate, chain, CSR or CRL, parsed with @peculiar/x509 (not our own writer's reader).

import { createHash } from 'node:crypto';
import { isPem, readPemBlocks } from '../../crypto/pem.js';
import { normalizeSerial } from '../../crypto/serial.js';
import { x509 } from '../../crypto/x509.js';
import { CaError } from '../../errors.js';
import { readSubjectAltName } from '../../pki/extensions.js';
import { OID } from '../../pki/oids.js';
import { readInputFile } from '../io.js';
import type { CommandOutput } from '../output.js';
import { escapeUnsafe } from '../../identity/text.js';
import { REVOCATION_REASONS } from '../../revocation/reasons.js';

const REASON_NAMES: Record<number, string> = Object.fromEntries(Object.entries(REVOCATION_REASONS).map(([name, code]) => [code, name]));

type Kind = 'certificate' | 'csr' | 'crl';

const LABELS: Record<string, Kind> = {
  CERTIFICATE: 'certificate',
  'CERTIFICATE REQUEST': 'csr',
  'NEW CERTIFICATE REQUEST': 'csr',
  'X509 CRL': 'crl',
  CRL: 'crl',
};

const EXTENSION_NAMES: Record<string, string> = Object.fromEntries(Object.entries(OID).map(([name, id]) => [id, name]));

function names(ext: x509.Extension | null) {
  return ext ? readSubjectAltName(Buffer.from(ext.value)) : { uris: [], dnsNames: [], ipAddresses: [], other: 0 };
}

function extensionList(exts: readonly x509.Extension[]) {
  return exts.map((e) => ({ oid: e.type, name: EXTENSION_NAMES[e.type] ?? null, critical: e.critical }));
}

function describeCertificate(der: Buffer) {
  const c = new x509.X509Certificate(der);
  const san = names(c.getExtension(OID.subjectAltName));
  const bc = c.getExtension(x509.BasicConstraintsExtension);
  return {
    data: {
      type: 'certificate',
      subject: c.subject,
      issuer: c.issuer,
      serial: normalizeSerial(c.serialNumber),
      notBefore: c.notBefore.toISOString(),
      notAfter: c.notAfter.toISOString(),
      isCa: bc?.ca ?? false,
      spiffeId: san.uris.find((u) => u.startsWith('spiffe://')) ?? null,
      uris: san.uris,
      dnsNames: san.dnsNames,
      ipAddresses: san.ipAddresses,
      publicKey: c.publicKey.algorithm,
      signatureAlgorithm: c.signatureAlgorithm,
      extensions: extensionList(c.extensions),
      fingerprintSha256: createHash('sha256').update(der).digest('hex').replace(/(..)(?!$)/g, '$1:'),
    },
  };
}

function describeCsr(der: Buffer) {
  const r = new x509.Pkcs10CertificateRequest(der);
  const san = names(r.getExtension(OID.subjectAltName));
  return {
    data: {
      type: 'csr',
      subject: r.subject,
      publicKey: r.publicKey.algorithm,
      signatureAlgorithm: r.signatureAlgorithm,
      uris: san.uris,
      dnsNames: san.dnsNames,
      ipAddresses: san.ipAddresses,
      extensions: extensionList(r.extensions),
    },
  };
}

function describeCrl(der: Buffer) {
  const l = new x509.X509Crl(der);
  const numberExt = l.extensions.find((e) => e.type === OID.crlNumber);
  const revoked = l.entries.map((e) => ({ serial: normalizeSerial(e.serialNumber), revokedAt: e.revocationDate.toISOString(), reason: e.reason === undefined ? 'unspecified' : (REASON_NAMES[e.reason] ?? String(e.reason)) }));
  return {
    data: {
      type: 'crl',
      issuer: l.issuer,
      thisUpdate: l.thisUpdate.toISOString(),
      nextUpdate: l.nextUpdate?.toISOString() ?? null,
      crlNumber: numberExt ? BigInt(`0x${Buffer.from(numberExt.value).subarray(2).toString('hex') || '0'}`).toString() : null,
      revoked,
      extensions: extensionList(l.extensions),
    },
  };
}

/**
 * One field per line, every value escaped on its own: a subject or SAN from a foreign certificate can hold
 * newlines and terminal escapes meant to forge the lines around it.
 */
function render(d: Record<string, unknown>, i: number): string {
  const esc = (v: unknown): string => escapeUnsafe(String(v));
  // WebCrypto algorithm objects: {name, namedCurve?, modulusLength?, hash?: {name}}.
  const alg = (v: unknown): string => {
    const a = v as { name?: unknown; namedCurve?: unknown; modulusLength?: unknown; hash?: { name?: unknown } };
    return esc([a.name, a.namedCurve, a.modulusLength, a.hash?.name].filter((x) => x !== undefined).join(' '));
  };
  const list = (v: unknown): string => ((v as unknown[]).map(esc).join(', ') || '-');
  const exts = (v: unknown): string[] => (v as Array<{ oid: string; name: string | null; critical: boolean }>).map((e) => `    ext      ${esc(e.name ?? e.oid)}${e.critical ? ' (critical)' : ''}`);
  if (d.type === 'certificate') {
    return [
      `[${i}] certificate ${esc(d.subject)}`,
      `    issuer   ${esc(d.issuer)}`,
      `    serial   ${esc(d.serial)}`,
      `    valid    ${esc(d.notBefore)} → ${esc(d.notAfter)}`,
      `    names    ${list([...(d.uris as string[]), ...(d.dnsNames as string[]), ...(d.ipAddresses as string[])])}`,
      `    key      ${alg(d.publicKey)}, signed with ${alg(d.signatureAlgorithm)}${d.isCa ? ', CA' : ''}`,
      ...exts(d.extensions),
      `    sha256   ${esc(d.fingerprintSha256)}`,
    ].join('\n');
  }
  if (d.type === 'crl') {
    return [
      `[${i}] CRL from ${esc(d.issuer)}`,
      `    number   ${esc(d.crlNumber)}`,
      `    updates  ${esc(d.thisUpdate)} → ${esc(d.nextUpdate)}`,
      `    revoked  ${(d.revoked as unknown[]).length}`,
      ...(d.revoked as Array<{ serial: string; revokedAt: string; reason: string }>).map((r) => `    ${esc(r.serial)}  ${esc(r.revokedAt)}  ${esc(r.reason)}`),
    ].join('\n');
  }
  return [`[${i}] CSR ${esc(d.subject)}`, `    names    ${list([...(d.uris as string[]), ...(d.dnsNames as string[]), ...(d.ipAddresses as string[])])}`, `    key      ${alg(d.publicKey)}, signed with ${alg(d.signatureAlgorithm)}`, ...exts(d.extensions)].join('\n');
}

const DESCRIBE: Record<Kind, (der: Buffer) => { data: Record<string, unknown> }> = {
  certificate: describeCertificate,
  csr: describeCsr,
  crl: describeCrl,
};

function describeDer(der: Buffer, kind: Kind | undefined, file: string) {
  const kinds: Kind[] = kind ? [kind] : ['certificate', 'csr', 'crl'];
  for (const k of kinds) {
    try {
      return DESCRIBE[k](der);
    } catch {
      // try the next kind
    }
  }
  throw new CaError('ERR_DER_INVALID', `cli: ${file} holds no certificate, CSR or CRL that can be parsed${kind ? ` (its ${kind} block is malformed)` : ''}`);
}

export function inspect(args: { file: string }): CommandOutput {
  const data = readInputFile(args.file, 'file');
  const objects = isPem(data)
    ? readPemBlocks(data.toString('latin1'))
        .filter((b) => b.label in LABELS)
        .map((b) => describeDer(b.der, LABELS[b.label], args.file))
    : [describeDer(data, undefined, args.file)];
  if (objects.length === 0) throw new CaError('ERR_PEM_INVALID', `cli: ${args.file} has no CERTIFICATE, CERTIFICATE REQUEST or X509 CRL block`);
  const human = objects.map((o, i) => render(o.data, i)).join('\n');
  return { data: objects.length === 1 ? objects[0]!.data : objects.map((o) => o.data), human };
}
