// mTLS clients: an https.Agent presenting the source's certificate and checking the server's identity with an authorizer.

import { Agent, type AgentOptions } from 'node:https';
import type { Socket } from 'node:net';
import { checkServerIdentity, type ConnectionOptions, type PeerCertificate, type TLSSocket } from 'node:tls';
import { toAuthorizer, type Authorizer } from './authorize.js';
import { identityOf, peerCertificateDer, peerIdentity, rememberPeer, type PeerIdentity } from './identity.js';
import { verifyRefusal, type Refusal } from './server.js';
import type { CertificateSource } from './source.js';

export interface MtlsAgentOptions extends Omit<AgentOptions, 'key' | 'cert' | 'ca' | 'crl' | 'rejectUnauthorized' | 'checkServerIdentity'> {
  readonly source: CertificateSource;
  /** Who the server must be; replaces hostname checking. Without it, Node's hostname check applies. */
  readonly authorize?: Authorizer | ((peer: PeerIdentity) => boolean);
  readonly onRefused?: (refusal: Refusal) => void;
}

/**
 * An `https.Agent` for mTLS: every new connection presents the source's current certificate (so renewals apply
 * without a restart), requires a server certificate from the trust bundle, checks CRLs, and authorizes the server.
 *
 * @example
 * const agent = createMtlsAgent({ source, authorize: authorize.id('spiffe://acme.internal/backend') });
 * https.get('https://backend:8443/', { agent }, (res) => res.pipe(process.stdout));
 */
export function createMtlsAgent(options: MtlsAgentOptions): Agent {
  const { source, authorize, onRefused, ...rest } = options;
  const authorizer = authorize === undefined ? undefined : toAuthorizer(authorize);
  /** Checks the server's certificate (the one Node read for this check); `accepted` hears the identity it let through. */
  const serverIdentity = (host: string, cert: PeerCertificate, accepted: (peer: PeerIdentity) => void): Error | undefined => {
    const peer = identityOf(cert.raw);
    if (source.isRevoked(peer.serial)) {
      const reason = 'its certificate is revoked (the CA said so on its revocation stream)';
      onRefused?.({ peer, code: 'revoked', reason, remoteAddress: host });
      return Object.assign(new Error(`tls: server ${peer.spiffeId ?? peer.dnsNames[0] ?? peer.serial}: ${reason}`), { code: 'ERR_MESHCA_PEER_REVOKED' });
    }
    if (source.revocationUnknown()) {
      const reason = 'its revocation status is unknown: the CRLs are past their nextUpdate and the revocation stream is down (failClosed)';
      onRefused?.({ peer, code: 'revocation-unknown', reason, remoteAddress: host });
      return Object.assign(new Error(`tls: server ${peer.spiffeId ?? peer.dnsNames[0] ?? peer.serial}: ${reason}`), { code: 'ERR_MESHCA_REVOCATION_UNKNOWN' });
    }
    if (!authorizer) {
      const mismatch = checkServerIdentity(host, cert);
      if (!mismatch) accepted(peer);
      return mismatch;
    }
    if (authorizer(peer)) {
      accepted(peer);
      return undefined;
    }
    const reason = `not authorized: the client allows ${authorizer.description}`;
    onRefused?.({ peer, code: 'not-authorized', reason, remoteAddress: host });
    return Object.assign(new Error(`tls: server ${peer.spiffeId ?? peer.dnsNames[0] ?? peer.serial} is ${reason}`), { code: 'ERR_MESHCA_PEER_NOT_AUTHORIZED' });
  };
  // Connections to a server the CA revokes while they are open (pooled keep-alive ones too) are closed at once.
  const live = new Set<TLSSocket>();
  source.on('revoked', (n: { serial: string }) => {
    for (const socket of live) {
      const peer = peerIdentity(socket);
      if (peer?.serial !== n.serial) continue;
      live.delete(socket);
      onRefused?.({ peer, code: 'revoked', reason: 'its certificate was revoked while connected (the CA said so on its revocation stream)', remoteAddress: socket.remoteAddress });
      socket.destroy();
    }
  });
  class MtlsAgent extends Agent {
    override createConnection(opts: ConnectionOptions, callback?: (err: Error | null, socket: Socket) => void): Socket {
      const min = opts.minVersion === 'TLSv1.3' ? 'TLSv1.3' : 'TLSv1.2';
      // The identity checked in checkServerIdentity is the one remembered: the certificate is read once per connection.
      let accepted: PeerIdentity | undefined;
      // A caller's `session` is dropped: Node skips checkServerIdentity on a resumed session, which would skip the
      // authorizer and the revocation checks.
      const { session: _resumption, ...given } = opts;
      const secure: ConnectionOptions = { ...given, secureContext: source.tlsContext(min), rejectUnauthorized: true, minVersion: min, checkServerIdentity: (host, cert) => serverIdentity(host, cert, (peer) => (accepted = peer)) };
      // A stale CRL stays in the context under failClosed: OpenSSL then refuses the server (CRL_HAS_EXPIRED).
      const socket = (Agent.prototype as unknown as { createConnection: (o: ConnectionOptions, cb?: unknown) => TLSSocket }).createConnection.call(this, secure, callback);
      socket.once('secureConnect', () => {
        // Never without the check (no session is resumed); should one be, it is refused, not trusted.
        if (!accepted) return socket.destroy(Object.assign(new Error('tls: the server\'s certificate was not checked (a resumed TLS session); refused'), { code: 'ERR_MESHCA_PEER_NOT_AUTHORIZED' }));
        rememberPeer(socket, accepted);
        live.add(socket);
        socket.once('close', () => live.delete(socket));
      });
      // A server certificate OpenSSL refused (revoked, expired, from another CA) is a refusal too, with its reason.
      socket.once('error', (e: NodeJS.ErrnoException) => {
        if (e.code === undefined || e.code === 'ERR_MESHCA_PEER_NOT_AUTHORIZED' || e.code === 'ERR_MESHCA_PEER_REVOKED' || e.code === 'ERR_MESHCA_REVOCATION_UNKNOWN' || !/^(CERT_|UNABLE_TO_|CRL_|SELF_SIGNED|DEPTH_ZERO)/.test(e.code)) return;
        let peer: PeerIdentity | null = null;
        try {
          const der = peerCertificateDer(socket);
          peer = der ? identityOf(der) : null;
        } catch {
          peer = null;
        }
        onRefused?.({ peer, ...verifyRefusal(e.code), remoteAddress: opts.host ?? undefined });
      });
      return socket;
    }
  }
  // No TLS session reuse: every connection checks the server's certificate (and the CRLs) in full.
  return new MtlsAgent({ ...rest, maxCachedSessions: 0 });
}
