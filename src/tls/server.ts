// mTLS servers: a client certificate is required, chains to the source's bundle, is not revoked, and passes the authorizer.

import { constants } from 'node:crypto';
import type { RequestListener } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer, type ServerOptions as HttpsServerOptions } from 'node:https';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket, type TlsOptions } from 'node:tls';
import { toAuthorizer, type Authorizer } from './authorize.js';
import { identityOf, rememberPeer, type PeerIdentity } from './identity.js';
import type { CertificateSource } from './source.js';

/** A refused peer: who it was (when its certificate could be read) and why. */
export interface Refusal {
  readonly peer: PeerIdentity | null;
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

/** Options callers may pass, with the secure defaults forced on top: they can be tightened, never weakened. */
export function secureServerOptions<T extends TlsOptions>(given: T, source: CertificateSource): T {
  const min = TLS_ORDER.includes(given.minVersion as never) ? given.minVersion : 'TLSv1.2';
  return {
    ...given,
    ...source.secureContext(),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: min,
    // No session tickets: every connection is a full handshake, so every peer certificate is checked afresh.
    secureOptions: (given.secureOptions ?? 0) | constants.SSL_OP_NO_TICKET,
  };
}

function guard(server: TlsServer, o: MtlsOptions): void {
  const authorizer: Authorizer = toAuthorizer(o.authorize);
  const refuse = (refusal: Refusal, socket: TLSSocket | undefined) => {
    socket?.destroy();
    o.onRefused?.(refusal);
    server.emit('refused', refusal);
  };
  // Runs before the HTTP parser's own secureConnection listener: a refused peer never has a request read.
  server.prependListener('secureConnection', (socket: TLSSocket) => {
    const cert = socket.getPeerX509Certificate();
    if (!cert) return refuse({ peer: null, reason: 'no client certificate', remoteAddress: socket.remoteAddress }, socket);
    const peer = identityOf(cert.raw);
    if (o.source.revocation === 'failClosed' && o.source.crlStale()) {
      return refuse({ peer, reason: 'the CRLs are past their nextUpdate (failClosed)', remoteAddress: socket.remoteAddress }, socket);
    }
    if (!authorizer(peer)) {
      return refuse({ peer, reason: `not authorized: the server allows ${authorizer.description}`, remoteAddress: socket.remoteAddress }, socket);
    }
    rememberPeer(socket, peer);
  });
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    refuse({ peer: null, reason: `TLS handshake failed (certificate refused by TLS, or the peer hung up): ${err.code ?? err.message}`, remoteAddress: socket.remoteAddress }, undefined);
  });
  const swap = () => server.setSecureContext(o.source.secureContext());
  o.source.on('renewed', swap);
  o.source.on('updated', swap);
  server.on('close', () => {
    o.source.off('renewed', swap);
    o.source.off('updated', swap);
  });
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
  guard(server, { source, authorize, ...(onRefused ? { onRefused } : {}) });
  return server;
}

/** The same for raw TLS over TCP: a `tls.Server`. */
export function createMtlsTlsServer(options: MtlsOptions & Omit<TlsOptions, 'key' | 'cert' | 'ca' | 'crl'>, listener?: (socket: TLSSocket) => void): TlsServer {
  const { source, authorize, onRefused, ...rest } = options;
  const server = createTlsServer(secureServerOptions(rest, source));
  guard(server, { source, authorize, ...(onRefused ? { onRefused } : {}) });
  // Registered after the guard, so only authorized sockets reach the listener.
  if (listener) server.on('secureConnection', (socket: TLSSocket) => {
    if (!socket.destroyed) listener(socket);
  });
  return server;
}
