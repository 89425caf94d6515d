// meshca's public library surface: named exports only, each documented where it is defined.

export { CaError, isCaError, type CaErrorCode } from './errors.js';
export { Authority, type AuthorityOptions, type CrlLevel } from './authority/authority.js';
export type { Caller, IssueRequest, IssuedLeaf, SubjectKey } from './authority/issue.js';
export type { LeafPolicy, LeafRequest } from './authority/policy.js';
export { defaultRenewalWindow, renewalWindowFor, type AdviceSelector, type RenewalAdvice, type RenewalWindow } from './authority/renewal-advice.js';
export type { AuditEvent, AuditRecord, BulkRevocationOutcome, CertificateQuery, CertificateRecord, CertificateStore, RevocationOutcome } from './authority/ports.js';
export { MASS_REVOCATION_LIMIT, type MassRevocation } from './authority/mass-revocation.js';
export { parseDuration, formatDuration } from './config/duration.js';
export { systemClock, fixedClock, type Clock } from './crypto/clock.js';
export { KEY_TYPES, parseKeyType, type KeyType } from './crypto/keys.js';
export { parseSpiffeId, parseSpiffeIdIn, parseTrustDomain, type SpiffeId, type TrustDomain } from './identity/spiffe.js';
export { parseDnsName, parseIpAddress } from './identity/names.js';
export { REVOCATION_REASONS, parseRevocationReason, type RevocationReason } from './revocation/reasons.js';
export { initLocalCa, LocalCa, type InitOptions, type InitResult } from './server/local-ca.js';
export { openSqliteStore, SqliteCertificateStore } from './store/sqlite-store.js';
export { RevocationStream, verifyRevocationEvent, type RenewalNotice, type RevocationNotice, type RevocationStreamOptions } from './client/revocation-stream.js';
