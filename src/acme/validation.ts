// Challenge validation (RFC 8555 §8.3, RFC 8737): the CA connects to the identifier and checks the key authorization.

import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { isIP } from 'node:net';
import { connect } from 'node:tls';
import { readElement, Tag } from '../crypto/der.js';
import { readCertificate } from '../pki/certificate.js';
import { readSubjectAltName } from '../pki/extensions.js';
import { OID } from '../pki/oids.js';
import { problem } from './problem.js';

/** The id-pe-acmeIdentifier extension a tls-alpn-01 certificate carries (RFC 8737 §3). */
const OID_ACME_IDENTIFIER = '1.3.6.1.5.5.7.1.31';
/** The ALPN protocol of tls-alpn-01. */
export const ACME_TLS_ALPN = 'acme-tls/1';

/** What a client puts up to prove control: `token.thumbprint` (RFC 8555 §8.1). */
export function keyAuthorization(token: string, accountThumbprint: string): string {
  return `${token}.${accountThumbprint}`;
}

/**
 * Where validation connects. By default, the identifier itself on the standard ports (80 for http-01, 443 for
 * tls-alpn-01); operators map names to addresses and ports (`config.json` `acme.resolve`, `acme.ports`).
 */
export interface ValidationRoute {
  readonly resolve: Readonly<Record<string, string>>;
  readonly ports: { readonly http01: number; readonly tlsAlpn01: number };
  /** Per attempt (connect and answer). */
  readonly timeoutMs: number;
}

export const DEFAULT_VALIDATION_ROUTE: ValidationRoute = { resolve: {}, ports: { http01: 80, tlsAlpn01: 443 }, timeoutMs: 10_000 };

const addressOf = (identifier: string, route: ValidationRoute): string => route.resolve[identifier] ?? identifier;

/**
 * http-01: `GET http://<identifier>/.well-known/acme-challenge/<token>` must answer 200 with the key authorization
 * (surrounding whitespace allowed). Redirects are not followed (the CA connects only where the identifier and the
 * operator's map say); bodies are read up to 8 kB.
 */
export function validateHttp01(identifier: string, token: string, expected: string, route: ValidationRoute = DEFAULT_VALIDATION_ROUTE): Promise<void> {
  const host = addressOf(identifier, route);
  const url = `http://${identifier}/.well-known/acme-challenge/${token}`;
  return new Promise((resolve, reject) => {
    // One outcome per attempt, within timeoutMs in all: a server that trickles its answer or stops mid-body is cut off.
    let settled = false;
    const settle = (failure?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      req.destroy();
      if (failure) reject(failure);
      else resolve();
    };
    const deadline = setTimeout(() => settle(problem('connection', `http-01: ${url} did not answer within ${route.timeoutMs / 1000} s`)), route.timeoutMs);
    const req = request({ host, port: route.ports.http01, path: `/.well-known/acme-challenge/${token}`, headers: { host: isIP(identifier) === 6 ? `[${identifier}]` : identifier, 'user-agent': 'meshca-acme-validator' }, agent: false }, (res) => {
      if (res.statusCode !== 200) return settle(problem('unauthorized', `http-01: ${url} answered HTTP ${res.statusCode} (redirects are not followed)`));
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
        if (body.length > 8192) settle(problem('incorrectResponse', `http-01: ${url} answered more than 8 kB`));
      });
      res.on('end', () => settle(body.trim() === expected ? undefined : problem('incorrectResponse', `http-01: ${url} did not answer the key authorization`)));
      res.on('close', () => settle(problem('connection', `http-01: the answer from ${identifier} broke off`)));
    });
    req.on('error', (e: NodeJS.ErrnoException) => settle(problem('connection', `http-01: cannot reach ${identifier} (${e.code ?? e.message})`)));
    req.end();
  });
}

/**
 * tls-alpn-01: a TLS connection to the identifier offering only `acme-tls/1` must negotiate it and present a
 * self-signed certificate for exactly that name with a critical acmeIdentifier extension holding the SHA-256 of the
 * key authorization. The certificate is not otherwise trusted (it only proves control of the name's TLS endpoint).
 */
export function validateTlsAlpn01(identifier: string, expected: string, route: ValidationRoute = DEFAULT_VALIDATION_ROUTE): Promise<void> {
  if (isIP(identifier) !== 0) return Promise.reject(problem('malformed', 'tls-alpn-01 validates DNS names here (for addresses, use http-01)'));
  const digest = createHash('sha256').update(expected).digest();
  return new Promise((resolve, reject) => {
    const socket = connect({ host: addressOf(identifier, route), port: route.ports.tlsAlpn01, servername: identifier, ALPNProtocols: [ACME_TLS_ALPN], rejectUnauthorized: false, minVersion: 'TLSv1.2' });
    const deadline = setTimeout(() => fail('connection', `no TLS handshake within ${route.timeoutMs / 1000} s`), route.timeoutMs);
    const fail = (type: 'tls' | 'unauthorized' | 'connection' | 'incorrectResponse', why: string) => {
      clearTimeout(deadline);
      socket.destroy();
      reject(problem(type, `tls-alpn-01: ${identifier}: ${why}`));
    };
    // A handshake the server aborts (no acme-tls/1 among its protocols, say) is a TLS problem, not an unreachable host.
    socket.on('error', (e: NodeJS.ErrnoException) => (e.code?.startsWith('ERR_SSL') ? fail('tls', `the TLS handshake failed (${e.code})`) : fail('connection', `cannot connect (${e.code ?? e.message})`)));
    socket.on('secureConnect', () => {
      if (socket.alpnProtocol !== ACME_TLS_ALPN) return fail('tls', `the server did not negotiate ${ACME_TLS_ALPN}`);
      const cert = socket.getPeerX509Certificate();
      if (!cert) return fail('tls', 'no certificate presented');
      try {
        const view = readCertificate(cert.raw);
        const san = view.extensions.get(OID.subjectAltName);
        const names = san ? readSubjectAltName(san.value) : undefined;
        if (!names || names.dnsNames.length !== 1 || names.dnsNames[0]!.toLowerCase() !== identifier.toLowerCase() || names.uris.length + names.ipAddresses.length + names.other > 0) {
          return fail('unauthorized', 'the certificate must name exactly this DNS name and nothing else');
        }
        const ext = view.extensions.get(OID_ACME_IDENTIFIER);
        if (!ext || !ext.critical) return fail('unauthorized', 'the certificate lacks the critical acmeIdentifier extension');
        const el = readElement(ext.value);
        if (el.tag !== Tag.OCTET_STRING || !el.value.equals(digest)) return fail('incorrectResponse', 'the acmeIdentifier extension does not hold the SHA-256 of the key authorization');
      } catch {
        return fail('tls', 'the certificate cannot be read');
      }
      clearTimeout(deadline);
      // Done with it: closed at once, not left half-open for a peer that never closes its side.
      socket.destroy();
      resolve();
    });
  });
}
