// meshca/tls: mutual TLS for Node services with the peer's identity checked on both sides, live renewal and revocation.

export { authorize, toAuthorizer, type Authorizer } from './authorize.js';
export { createMtlsAgent, type MtlsAgentOptions } from './agent.js';
export { identityOf, peerIdentity, type PeerIdentity } from './identity.js';
export { createMtlsServer, createMtlsTlsServer, type MtlsOptions, type Refusal } from './server.js';
export { CertificateSource, type FromCaOptions, type FromFilesOptions, type RevocationOptions, type RevocationPolicy, type TlsCredentials } from './source.js';
export type { RevocationNotice } from '../client/revocation-stream.js';
