// ACME problem documents (RFC 8555 §6.7): the error every /acme/ answer carries, typed, as application/problem+json.

import { CaError } from '../errors.js';

/** The ACME error types meshca sends (`urn:ietf:params:acme:error:<type>`). */
export type AcmeProblemType =
  | 'accountDoesNotExist'
  | 'alreadyRevoked'
  | 'badCSR'
  | 'badNonce'
  | 'badPublicKey'
  | 'badRevocationReason'
  | 'badSignatureAlgorithm'
  | 'connection'
  | 'externalAccountRequired'
  | 'incorrectResponse'
  | 'malformed'
  | 'orderNotReady'
  | 'rateLimited'
  | 'rejectedIdentifier'
  | 'serverInternal'
  | 'tls'
  | 'unauthorized'
  | 'unsupportedIdentifier'
  | 'userActionRequired';

/** The HTTP status of each type when it is the answer to a request (challenge errors are only ever inside objects). */
const STATUS: Record<AcmeProblemType, number> = {
  accountDoesNotExist: 400,
  alreadyRevoked: 400,
  badCSR: 400,
  badNonce: 400,
  badPublicKey: 400,
  badRevocationReason: 400,
  badSignatureAlgorithm: 400,
  connection: 400,
  externalAccountRequired: 400,
  incorrectResponse: 400,
  malformed: 400,
  orderNotReady: 403,
  rateLimited: 429,
  rejectedIdentifier: 400,
  serverInternal: 500,
  tls: 400,
  unauthorized: 403,
  unsupportedIdentifier: 400,
  userActionRequired: 403,
};

/** A refused ACME request: its problem type, what to tell the client, and extra members (`algorithms`, `subproblems`). */
export class AcmeProblem extends CaError {
  readonly type: AcmeProblemType;
  readonly status: number;
  readonly extra: Readonly<Record<string, unknown>>;

  constructor(type: AcmeProblemType, message: string, extra: Record<string, unknown> = {}, status?: number) {
    super('ERR_ACME_PROBLEM', `acme: ${message}`, { detail: { type } });
    this.type = type;
    this.status = status ?? STATUS[type];
    this.extra = extra;
  }

  /** The problem document (RFC 7807 with the ACME URN). */
  document(): Record<string, unknown> {
    return { type: `urn:ietf:params:acme:error:${this.type}`, detail: this.message.replace(/^acme: /, ''), status: this.status, ...this.extra };
  }
}

/** Shorthand: `problem('malformed', 'the payload is not JSON')`; `status` where HTTP says more than the type (413, 415). */
export function problem(type: AcmeProblemType, message: string, extra?: Record<string, unknown>, status?: number): AcmeProblem {
  return new AcmeProblem(type, message, extra, status);
}
