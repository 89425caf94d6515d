// The one map from CaError codes to HTTP statuses, and the JSON error body every 4xx carries.

import { CaError, type CaErrorCode } from '../errors.js';

const STATUS: Partial<Record<CaErrorCode, number>> = {
  ERR_UNAUTHENTICATED: 401,
  ERR_TOKEN_INVALID: 401,
  ERR_TOKEN_EXPIRED: 401,
  ERR_TOKEN_REPLAYED: 401,
  ERR_APIKEY_INVALID: 401,
  ERR_APIKEY_EXPIRED: 401,
  ERR_APIKEY_REVOKED: 401,
  ERR_CERTIFICATE_UNTRUSTED: 401,
  ERR_CERTIFICATE_REVOKED: 401,
  ERR_CERTIFICATE_EXPIRED: 401,
  ERR_CERTIFICATE_SUPERSEDED: 401,
  ERR_FORBIDDEN: 403,
  ERR_CROSS_SITE: 403,
  ERR_IDENTITY_NOT_PERMITTED: 403,
  ERR_IDENTITY_RESERVED: 403,
  ERR_KEY_BLOCKED: 403,
  ERR_RENEWAL_FORKED: 409,
  ERR_CERTIFICATE_NOT_FOUND: 404,
  ERR_NOT_FOUND: 404,
  ERR_METHOD_NOT_ALLOWED: 405,
  ERR_ALREADY_REVOKED: 409,
  ERR_REVOKE_CA_CERTIFICATE: 409,
  ERR_BODY_TOO_LARGE: 413,
  ERR_BODY_ENCODING: 415,
  ERR_RATE_LIMITED: 429,
  ERR_STORE_BUSY: 503,
  ERR_DATABASE_UNAVAILABLE: 503,
  ERR_STORE_CORRUPT: 503,
  ERR_STORE_MISSING: 503,
  ERR_STORE_TOO_NEW: 503,
  ERR_SIGNER_UNAVAILABLE: 503,
  ERR_STREAM_FULL: 503,
};

/** The HTTP status for an error: its mapped status, 400 for any other CaError (bad input), 500 otherwise. */
export function httpStatusFor(e: unknown): number {
  if (!(e instanceof CaError)) return 500;
  return STATUS[e.code] ?? 400;
}

/**
 * What a caller is told of the database's failures: the code and what to do, never where the database is (its
 * host, user and name are the operator's; the service log has them).
 */
const DATABASE_MESSAGES: Partial<Record<CaErrorCode, string>> = {
  ERR_DATABASE_UNAVAILABLE: "api: the CA's database is unavailable; retry shortly (if this request changed anything, it may have been done: a retry says so)",
  ERR_STORE_BUSY: "api: the CA's database was busy; try again",
  ERR_STORE_CORRUPT: "api: the CA's database cannot be used; the operator has the details in the service log",
  ERR_STORE_MISSING: "api: the CA's database cannot be used; the operator has the details in the service log",
  ERR_STORE_TOO_NEW: "api: the CA's database cannot be used; the operator has the details in the service log",
};

/** True for a failure of the database whose details stay in the service log. */
export function isDatabaseError(e: unknown): e is CaError {
  return e instanceof CaError && DATABASE_MESSAGES[e.code] !== undefined;
}

/** `{error: {code, message}}`; an unexpected error says nothing about its internals, a database failure nothing of where it is. */
export function errorBody(e: unknown): { error: { code: string; message: string } } {
  if (e instanceof CaError) return { error: { code: e.code, message: DATABASE_MESSAGES[e.code] ?? e.message } };
  return { error: { code: 'ERR_INTERNAL', message: 'internal error; see the service log' } };
}

/** Translates body-parser failures into CaErrors with a clear message. */
export function bodyParserError(e: unknown): CaError | undefined {
  const type = (e as { type?: string }).type;
  if (type === 'entity.too.large') return new CaError('ERR_BODY_TOO_LARGE', 'api: request body too large');
  if (type === 'entity.parse.failed') return new CaError('ERR_BODY_INVALID', 'api: request body is not valid JSON');
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') return new CaError('ERR_BODY_INVALID', 'api: unsupported body encoding (send UTF-8 JSON)');
  if (type === 'request.aborted' || type === 'request.size.invalid' || type === 'stream.encoding.set') return new CaError('ERR_BODY_INVALID', 'api: the request body could not be read');
  // Express's own refusal of a path parameter that is not valid percent-encoding (`/v1/certificates/%ff`).
  if (e instanceof URIError) return new CaError('ERR_PATH_INVALID', 'api: the request path is not valid percent-encoding');
  // Anything else body-parser or its streams refuse with a client status is still the client's bad input.
  const status = (e as { status?: unknown }).status;
  if (typeof status === 'number' && status >= 400 && status < 500) return new CaError('ERR_BODY_INVALID', 'api: the request body could not be read');
  return undefined;
}
