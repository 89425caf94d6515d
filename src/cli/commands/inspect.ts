// `ca inspect`: a readable view of a certificate, chain, CSR or CRL, parsed with @peculiar/x509 (not our own writer's reader).

import { createHash } from 'node:crypto';
import { isPem, readPemBlocks } from '../../crypto/pem.js';
import { normalizeSerial } from '../../crypto/serial.js';
import type { x509 as X509 } from '../../crypto/x509.js';
import { Tag, children, oidToString, readWhole } from '../../crypto/der.js';
import { readPublicKeyInfo } from '../../crypto/keys.js';
import { readCertificate } from '../../pki/certificate.js';
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

/** @peculiar/x509, loaded only for what the fast path below does not describe (it costs ~150 ms to load). */
let x509: typeof X509;

function names(ext: X509.Extension | null) {
  return ext ? readSubjectAltName(Buffer.from(ext.value)) : { uris: [], dnsNames: [], ipAddresses: [], other: 0 };
}

function extensionList(exts: readonly X509.Extension[]) {
  return exts.map((e) => ({ oid: e.type, name: EXTENSION_NAMES[e.type] ?? null, critical: e.critical }));
}

const SHORT_NAMES: Record<string, string> = { '2.5.4.3': 'CN', '2.5.4.10': 'O', '2.5.4.11': 'OU', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST' };

/** A Name as @peculiar/x509 prints it (`O=Acme, CN=api`), for plain names only; undefined for anything else. */
function plainName(der: Buffer): string | undefined {
  const parts: string[] = [];
  for (const rdn of children(readWhole(der, Tag.SEQUENCE, 'Name').value)) {
    const atvs = children(rdn.value);
    if (rdn.tag !== Tag.SET || atvs.length !== 1) return undefined;
    const [type, value] = children(atvs[0]!.value);
    const short = type ? SHORT_NAMES[oidToString(type.value)] : undefined;
    if (!short || !value || (value.tag !== 0x0c && value.tag !== 0x13)) return undefined;
    const text = value.value.toString('utf8');
    if (!/^[A-Za-z0-9](?:[A-Za-z0-9 ._()'/:@-]*[A-Za-z0-9._()'/:@-])?$/.test(text)) return undefined;
    parts.push(`${short}=${text}`);
  }
  return parts.join(', ');
}

const SIGNATURES: Record<string, object> = {
  '1.2.840.10045.4.3.2': { name: 'ECDSA', hash: { name: 'SHA-256' } },
  '1.2.840.10045.4.3.3': { name: 'ECDSA', hash: { name: 'SHA-384' } },
  '1.3.101.112': { name: 'Ed25519' },
};

/**
 * The certificates meshca makes (plain names, EC or Ed25519 keys, no repeated extension), described without the
 * x509 library, exactly as it would describe them (a unit test compares the two); undefined for anything else.
 */
function describeCertificateQuickly(der: Buffer) {
  try {
    const c = readCertificate(der);
    const subject = plainName(c.subject);
    const issuer = plainName(c.issuer);
    const key = readPublicKeyInfo(c.spki);
    const algorithm = children(readWhole(c.signatureAlgorithm, Tag.SEQUENCE, 'AlgorithmIdentifier').value)[0];
    const signature = algorithm ? SIGNATURES[oidToString(algorithm.value)] : undefined;
    if (subject === undefined || issuer === undefined || !signature || key.algorithm === 'rsa' || c.duplicateExtensions.length > 0 || c.version !== 3) return undefined;
    const san = c.extensions.get(OID.subjectAltName);
    const sanNames = san ? readSubjectAltName(san.value) : { uris: [], dnsNames: [], ipAddresses: [], other: 0 };
    const bc = c.extensions.get(OID.basicConstraints);
    const bcParts = bc ? children(readWhole(bc.value, Tag.SEQUENCE, 'basicConstraints').value) : [];
    return {
      data: {
        type: 'certificate',
        subject,
        issuer,
        serial: c.serial,
        notBefore: c.notBefore.toISOString(),
        notAfter: c.notAfter.toISOString(),
        isCa: bcParts[0]?.tag === Tag.BOOLEAN && bcParts[0].value[0] === 0xff,
        spiffeId: sanNames.uris.find((u) => u.startsWith('spiffe://')) ?? null,
        uris: sanNames.uris,
        dnsNames: sanNames.dnsNames,
        ipAddresses: sanNames.ipAddresses,
        publicKey: key.algorithm === 'ed25519' ? { name: 'Ed25519' } : { name: 'ECDSA', namedCurve: key.curve },
        signatureAlgorithm: signature,
        extensions: [...c.extensions].map(([oid, e]) => ({ oid, name: EXTENSION_NAMES[oid] ?? null, critical: e.critical })),
        fingerprintSha256: createHash('sha256').update(der).digest('hex').replace(/(..)(?!$)/g, '$1:'),
      },
    };
  } catch {
    return undefined;
  }
}

/** As the x509 library describes a certificate (the reference for the fast path). */
export async function describeCertificateWithLibrary(der: Buffer) {
  x509 ??= (await import('../../crypto/x509.js')).x509;
  return describeCertificate(der);
}

export { describeCertificateQuickly };

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

async function describeDer(der: Buffer, kind: Kind | undefined, file: string) {
  if (kind === undefined || kind === 'certificate') {
    const quick = describeCertificateQuickly(der);
    if (quick) return quick;
  }
  x509 ??= (await import('../../crypto/x509.js')).x509;
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

export async function inspect(args: { file: string }): Promise<CommandOutput> {
  const data = readInputFile(args.file, 'file');
  const objects = isPem(data)
    ? await Promise.all(
        readPemBlocks(data.toString('latin1'))
          .filter((b) => b.label in LABELS)
          .map((b) => describeDer(b.der, LABELS[b.label], args.file)),
      )
    : [await describeDer(data, undefined, args.file)];
  if (objects.length === 0) throw new CaError('ERR_PEM_INVALID', `cli: ${args.file} has no CERTIFICATE, CERTIFICATE REQUEST or X509 CRL block`);
  const human = objects.map((o, i) => render(o.data, i)).join('\n');
  return { data: objects.length === 1 ? objects[0]!.data : objects.map((o) => o.data), human };
}
