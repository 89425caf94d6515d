// The one error base of meshca: every failure a user can cause carries a stable string `code`.

/** Every code a {@link CaError} can carry. Codes are stable: scripts and the HTTP/CLI maps key on them. */
export type CaErrorCode =
  // input shapes
  | 'ERR_DURATION_INVALID'
  | 'ERR_PEM_INVALID'
  | 'ERR_DER_INVALID'
  | 'ERR_KEY_TYPE_UNSUPPORTED'
  | 'ERR_KEY_INVALID'
  | 'ERR_KEY_WEAK'
  | 'ERR_KEY_BLOCKED'
  // identities
  | 'ERR_SPIFFE_ID_INVALID'
  | 'ERR_SPIFFE_ID_FOREIGN_TRUST_DOMAIN'
  | 'ERR_TRUST_DOMAIN_INVALID'
  | 'ERR_DNS_NAME_INVALID'
  | 'ERR_IP_ADDRESS_INVALID'
  | 'ERR_NAME_REQUIRED'
  | 'ERR_NAME_INVALID'
  | 'ERR_PATTERN_INVALID'
  | 'ERR_IDENTITY_RESERVED'
  // certificate requests and issuance
  | 'ERR_CSR_MALFORMED'
  | 'ERR_CSR_SIGNATURE'
  | 'ERR_SIGNATURE_ALGORITHM_UNSUPPORTED'
  | 'ERR_TTL_TOO_LONG'
  | 'ERR_TTL_INVALID'
  | 'ERR_ISSUER_EXPIRES_FIRST'
  | 'ERR_LINT'
  | 'ERR_RENEWAL_FORKED'
  // revocation
  | 'ERR_REVOCATION_REASON_INVALID'
  | 'ERR_REVOCATION_EVENT_FORGED'
  | 'ERR_ACME_PROBLEM'
  | 'ERR_EAB_NAME_TAKEN'
  | 'ERR_ACME_KEY_IN_USE'
  | 'ERR_ACME_KEY_CHANGED'
  | 'ERR_ACME_TOO_MANY_ORDERS'
  | 'ERR_STREAM_FULL'
  | 'ERR_CERTIFICATE_SUPERSEDED'
  | 'ERR_CERTIFICATE_NOT_FOUND'
  | 'ERR_ALREADY_REVOKED'
  | 'ERR_REVOKE_CA_CERTIFICATE'
  | 'ERR_REVOCATION_TOO_BROAD'
  | 'ERR_CRL_STALE'
  | 'ERR_CRL_ROLLBACK'
  // renewal advice
  | 'ERR_ADVICE_INVALID'
  // the CA directory and its secrets
  | 'ERR_CA_DIR_EXISTS'
  | 'ERR_CA_DIR_MISSING'
  | 'ERR_CONFIG_INVALID'
  | 'ERR_PASSPHRASE_REQUIRED'
  | 'ERR_PASSPHRASE_WRONG'
  | 'ERR_STORE_MISSING'
  | 'ERR_STORE_CORRUPT'
  | 'ERR_AUDIT_TAMPERED'
  | 'ERR_AUDIT_HEAD_INVALID'
  | 'ERR_STORE_BUSY'
  | 'ERR_STORE_TOO_NEW'
  | 'ERR_DATABASE_UNAVAILABLE'
  | 'ERR_DATABASE_IN_USE'
  | 'ERR_KEY_MISMATCH'
  | 'ERR_ROTATION_CONFLICT'
  | 'ERR_SIGNER_UNAVAILABLE'
  // files
  | 'ERR_FILE_NOT_FOUND'
  | 'ERR_FILE_UNREADABLE'
  | 'ERR_FILE_WRITE'
  | 'ERR_FILE_EXISTS'
  | 'ERR_ROOT_KEY_OFFLINE'
  | 'ERR_ROTATION_FAILED'
  | 'ERR_USAGE'
  | 'ERR_EXEC_FAILED'
  // callers and credentials
  | 'ERR_UNAUTHENTICATED'
  | 'ERR_TOKEN_INVALID'
  | 'ERR_TOKEN_EXPIRED'
  | 'ERR_TOKEN_REPLAYED'
  | 'ERR_APIKEY_INVALID'
  | 'ERR_APIKEY_EXPIRED'
  | 'ERR_APIKEY_REVOKED'
  | 'ERR_APIKEY_NAME_TAKEN'
  | 'ERR_APIKEY_NOT_FOUND'
  | 'ERR_SCOPE_INVALID'
  | 'ERR_FORBIDDEN'
  | 'ERR_CROSS_SITE'
  | 'ERR_IDENTITY_NOT_PERMITTED'
  | 'ERR_CERTIFICATE_UNTRUSTED'
  | 'ERR_CERTIFICATE_REVOKED'
  | 'ERR_CERTIFICATE_EXPIRED'
  | 'ERR_RATE_LIMITED'
  // HTTP requests
  | 'ERR_BODY_INVALID'
  | 'ERR_PATH_INVALID'
  | 'ERR_QUERY_INVALID'
  | 'ERR_BODY_TOO_LARGE'
  | 'ERR_BODY_ENCODING'
  | 'ERR_NOT_FOUND'
  | 'ERR_METHOD_NOT_ALLOWED'
  // the service and its clients
  | 'ERR_CA_LOCKED'
  | 'ERR_LISTEN'
  | 'ERR_CA_UNREACHABLE'
  | 'ERR_CA_RESPONSE'
  | 'ERR_TLS_TRUST';

/**
 * A failure meshca can explain. `message` names the module (`"pki: CSR signature does not verify"`)
 * and never contains secrets; `code` is stable and is what transports map to exit codes and HTTP statuses.
 *
 * @example
 * try { parseDuration('soon') } catch (e) { if (e instanceof CaError) console.error(e.code) }
 */
export class CaError extends Error {
  readonly code: CaErrorCode;
  readonly detail: Readonly<Record<string, unknown>> | undefined;

  constructor(code: CaErrorCode, message: string, options?: { cause?: unknown; detail?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CaError';
    this.code = code;
    this.detail = options?.detail;
  }
}

/** True when `e` is a {@link CaError}, optionally with the given code. */
export function isCaError(e: unknown, code?: CaErrorCode): e is CaError {
  return e instanceof CaError && (code === undefined || e.code === code);
}
