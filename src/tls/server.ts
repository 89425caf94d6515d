// mTLS servers: a client certificate is required, chains to the source's bundle, is not revoked, and passes the authorizer.

import { constants } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer, type ServerOptions as HttpsServerOptions } from 'node:https';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket, type TlsOptions } from 'node:tls';
import { toAuthorizer, type Authorizer } from './authorize.js';
import { identityOf, peerCertificateDer, peerIdentity, rememberPeer, type PeerIdentity } from './identity.js';
import type { CertificateSource } from './source.js';
import { readCertificate } from '../pki/certificate.js';
import { OID } from '../pki/oids.js';

/** Why a peer was refused, as a stable code (the `reason` text says it for people). */
export type RefusalCode = 'no-certificate' | 'revoked' | 'expired' | 'not-yet-valid' | 'unknown-issuer' | 'revocation-unknown' | 'not-authorized' | 'handshake-failed' | 'invalid-certificate';

/** A refused peer: who it was (when its certificate could be read), why, and from where. */
export interface Refusal {
  readonly peer: PeerIdentity | null;
  readonly code: RefusalCode;
  readonly reason: string;
  readonly remoteAddress: string | undefined;
}

export interface MtlsOptions {
  readonly source: CertificateSource;
  readonly authorize: Authorizer | ((peer: PeerIdentity) => boolean);
  /** Called for every refused connection (also emitted as the server's `refused` event). */
  readonly onRefused?: (refusal: Refusal) => void;
}

const TLS_ORDER = ['TLSv1.2', 'TLSv1.3'] as const;

/** OpenSSL's verification errors (Node's `authorizationError`), as what they mean for the peer. */
export function verifyRefusal(error: string): { code: RefusalCode; reason: string } {
  switch (error) {
    case 'CERT_REVOKED':
      return { code: 'revoked', reason: 'its certificate is revoked' };
    case 'CERT_HAS_EXPIRED':
      return { code: 'expired', reason: 'its certificate has expired' };
    case 'CERT_NOT_YET_VALID':
      return { code: 'not-yet-valid', reason: 'its certificate is not valid yet' };
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'CERT_SIGNATURE_FAILURE':
      return { code: 'unknown-issuer', reason: `its certificate does not chain to the trust bundle (${error})` };
    case 'UNABLE_TO_GET_CRL':
    case 'CRL_HAS_EXPIRED':
    case 'CRL_NOT_YET_VALID':
    case 'CRL_SIGNATURE_FAILURE':
      return { code: 'revocation-unknown', reason: `its revocation status is unknown: no current CRL for its issuer (${error})` };
    default:
      return { code: 'invalid-certificate', reason: `its certificate failed verification (${error})` };
  }
}

/**
 * Options callers may pass, with the secure defaults forced on top: they can be tightened, never weakened. The
 * chain is verified by OpenSSL as always; the guard, not OpenSSL, closes a connection that failed it, so the
 * refusal can say why and name the certificate.
 */
function secureServerOptions<T extends TlsOptions>(given: T, source: CertificateSource): T {
  const min = TLS_ORDER.includes(given.minVersion as never) ? given.minVersion : 'TLSv1.2';
  return {
    ...given,
    ...source.secureContext(),
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: min,
    // No session tickets: every connection is a full handshake, so every peer certificate is checked afresh.
    secureOptions: (given.secureOptions ?? 0) | constants.SSL_OP_NO_TICKET,
  };
}

/**
 * True when the certificate's authorityKeyIdentifier names an issuer the source knows (its bundle, its own chain, the
 * signers of its CRLs: a root-only bundle and an intermediate from a rotation are common). Checked only on refusal: a
 * server does not see the chain its peer sent.
 */
function issuerKnown(der: Buffer, source: CertificateSource): boolean {
  try {
    const aki = readCertificate(der).extensions.get(OID.authorityKeyIdentifier);
    return aki !== undefined && source.issuerKeyIds().some((id) => aki.value.includes(id));
  } catch {
    return false;
  }
}

/** Sockets the guard refused, with why: the HTTPS server answers their requests with a 403 naming it. */
const refusedSockets = new WeakMap<TLSSocket, Refusal>();

function guard(server: TlsServer, o: MtlsOptions, answersHttp: boolean): void {
  const authorizer: Authorizer = toAuthorizer(o.authorize);
  const refuse = (refusal: Refusal, socket: TLSSocket | undefined) => {
    if (socket) {
      refusedSockets.set(socket, refusal);
      // An HTTPS client gets a 403 that says why (its request is answered by the wrapper, never the handler);
      // anything else is closed. Either way no byte from it reaches the application.
      if (answersHttp) socket.setTimeout(5_000, () => socket.destroy());
      else socket.destroy();
    }
    o.onRefused?.(refusal);
    server.emit('refused', refusal);
  };
  // Runs before the HTTP parser's own secureConnection listener.
  server.prependListener('secureConnection', (socket: TLSSocket) => {
    const der = peerCertificateDer(socket);
    const remoteAddress = socket.remoteAddress;
    if (!der) return refuse({ peer: null, code: 'no-certificate', reason: 'no client certificate', remoteAddress }, socket);
    let peer: PeerIdentity | null = null;
    try {
      peer = identityOf(der);
    } catch {
      peer = null;
    }
    if (!socket.authorized) {
      let why = verifyRefusal(String(socket.authorizationError ?? 'UNKNOWN'));
      // OpenSSL looks for a CRL before it notices that an issuer of the same name is another CA's.
      if (why.code === 'revocation-unknown' && !issuerKnown(der, o.source)) {
        why = { code: 'unknown-issuer', reason: `its certificate does not chain to the trust bundle (its issuer is another CA's; OpenSSL said ${socket.authorizationError})` };
      }
      return refuse({ peer, ...why, remoteAddress }, socket);
    }
    if (!peer) return refuse({ peer, code: 'invalid-certificate', reason: 'its certificate cannot be read', remoteAddress }, socket);
    if (o.source.isRevoked(peer.serial)) return refuse({ peer, code: 'revoked', reason: 'its certificate is revoked (the CA said so on its revocation stream)', remoteAddress }, socket);
    if (o.source.revocationUnknown()) {
      return refuse({ peer, code: 'revocation-unknown', reason: 'the CRLs are past their nextUpdate and the revocation stream is down (failClosed)', remoteAddress }, socket);
    }
    if (!authorizer(peer)) {
      return refuse({ peer, code: 'not-authorized', reason: `not authorized: the server allows ${authorizer.description}`, remoteAddress }, socket);
    }
    rememberPeer(socket, peer);
    live.add(socket);
    socket.once('close', () => live.delete(socket));
  });
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    refuse({ peer: null, code: 'handshake-failed', reason: `TLS handshake failed (the peer hung up or spoke no acceptable TLS): ${err.code ?? err.message}`, remoteAddress: socket.remoteAddress }, undefined);
  });
  // Connections of a peer the CA revokes while they are open are closed: a revocation takes effect at once,
  // not at the peer's next handshake.
  const live = new Set<TLSSocket>();
  const revoked = (n: { serial: string }) => {
    for (const socket of live) {
      const peer = peerIdentity(socket);
      if (peer?.serial !== n.serial) continue;
      live.delete(socket);
      refuse({ peer, code: 'revoked', reason: 'its certificate was revoked while connected (the CA said so on its revocation stream)', remoteAddress: socket.remoteAddress }, undefined);
      socket.destroy();
    }
  };
  const swap = () => server.setSecureContext(o.source.secureContext());
  o.source.on('renewed', swap);
  o.source.on('updated', swap);
  o.source.on('revoked', revoked);
  server.on('close', () => {
    o.source.off('renewed', swap);
    o.source.off('updated', swap);
    o.source.off('revoked', revoked);
  });
}

/** The 403 a refused HTTPS client receives in place of its answer. */
function refusedAnswer(refusal: Refusal, res: ServerResponse): void {
  const body = JSON.stringify({ error: { code: 'ERR_MESHCA_PEER_REFUSED', refusal: refusal.code, message: `tls: this server refused your certificate${refusal.peer ? ` (serial ${refusal.peer.serial}${refusal.peer.spiffeId ? `, ${refusal.peer.spiffeId}` : ''})` : ''}: ${refusal.reason}` } });
  res.writeHead(403, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body, () => res.socket?.destroy());
}

/**
 * An `https.Server` that only lets authorized, unrevoked peers of the source's trust bundle reach `handler`.
 *
 * @example
 * const server = createMtlsServer({ source, authorize: authorize.id('spiffe://acme.internal/frontend') }, (req, res) => {
 *   res.end(`hello ${peerIdentity(req.socket)?.spiffeId}`);
 * });
 */
export function createMtlsServer(options: MtlsOptions & Omit<HttpsServerOptions, 'key' | 'cert' | 'ca' | 'crl'>, handler?: RequestListener): HttpsServer {
  const { source, authorize, onRefused, ...rest } = options;
  const server = createHttpsServer(secureServerOptions(rest, source), handler);
  // Every request event passes through here, whoever listens for it (the handler, or listeners added later): one
  // on a connection that was not verified is answered 403 naming why, and upgrades on one are dropped.
  const emit = server.emit.bind(server) as (event: string | symbol, ...args: unknown[]) => boolean;
  server.emit = ((event: string | symbol, ...args: unknown[]) => {
    if (event === 'request' || event === 'checkContinue' || event === 'checkExpectation' || event === 'upgrade' || event === 'connect') {
      const req = args[0] as IncomingMessage;
      const socket = req.socket as TLSSocket;
      if (peerIdentity(socket) === undefined) {
        const refusal = refusedSockets.get(socket) ?? { peer: null, code: 'invalid-certificate' as const, reason: 'the connection was not verified', remoteAddress: socket.remoteAddress };
        if (event === 'upgrade' || event === 'connect') socket.destroy();
        else refusedAnswer(refusal, args[1] as ServerResponse);
        return true;
      }
    }
    return emit(event, ...args);
  }) as typeof server.emit;
  guard(server, { source, authorize, ...(onRefused ? { onRefused } : {}) }, true);
  return server;
}

/** The same for raw TLS over TCP: a `tls.Server`. */
export function createMtlsTlsServer(options: MtlsOptions & Omit<TlsOptions, 'key' | 'cert' | 'ca' | 'crl'>, listener?: (socket: TLSSocket) => void): TlsServer {
  const { source, authorize, onRefused, ...rest } = options;
  const server = createTlsServer(secureServerOptions(rest, source));
  guard(server, { source, authorize, ...(onRefused ? { onRefused } : {}) }, false);
  // Registered after the guard, so only authorized sockets reach the listener.
  if (listener) server.on('secureConnection', (socket: TLSSocket) => {
    if (!socket.destroyed) listener(socket);
  });
  return server;
}
