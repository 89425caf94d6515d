// What the HTTP API needs besides the authority: credential lookup, audit, metrics, readiness, and the token key.

import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import type { ApiKeyStore } from '../auth/ports.js';
import type { Authority } from '../authority/authority.js';
import type { RevocationFeed } from '../authority/revocation-feed.js';
import type { AcmeService } from '../acme/service.js';
import type { AcmeOrders } from '../acme/orders.js';
import type { AuditEvent, AuditRecord } from '../authority/ports.js';
import type { Clock } from '../crypto/clock.js';
import type { OperatorGrant } from '../config/ca-config.js';

/** Counters and histograms the API feeds; implemented with prom-client by the server. */
export interface ApiMetrics {
  issued(kind: 'issue' | 'renew'): void;
  /** `count` revocations were recorded (by the API or by a `ca revoke` on the directory). */
  revoked(count: number): void;
  refused(code: string): void;
  observeRequest(route: string, method: string, status: number, seconds: number): void;
  /** Issuances (issue and renew), revocations and refusals in each of the last 60 minutes, oldest first. */
  lastHour(): { readonly issued: readonly number[]; readonly revoked: readonly number[]; readonly refused: readonly number[] };
}

/** A signed head of the audit chain as served at /v1/audit/head. */
export interface SignedAuditHead {
  readonly id: number;
  readonly seal: string;
  readonly at: string;
  /** Compact JWS (ES256) over the head, by the audit key. */
  readonly jws: string;
  /** The audit key's public JWK and its RFC 7638 thumbprint (the JWS `kid`), for monitors to pin. */
  readonly publicKey: { readonly jwk: unknown; readonly thumbprint: string };
}

/** The result of a readiness probe. */
export interface Readiness {
  readonly ok: boolean;
  readonly checks: Readonly<Record<string, string>>;
  /** What needs an operator soon without making the service unready (an intermediate to rotate). */
  readonly warnings?: Readonly<Record<string, string>>;
}

/** Everything the API app is built from. */
export interface ApiDeps {
  readonly authority: Authority;
  readonly apiKeys: ApiKeyStore;
  readonly appendAudit: (event: AuditEvent) => Promise<void>;
  /** Oldest first after `after`, or newest first below `before`. */
  readonly readAuditLog: (page: { limit: number; after?: number; before?: number }) => Promise<AuditRecord[]>;
  /** Walks the whole audit chain (GET /v1/audit/verify); absent: not offered. */
  readonly verifyAuditChain?: () => Promise<{ ok: boolean; rows: number; message?: string; lastId?: number }>;
  /** Operator certificates: SPIFFE ID patterns and the scopes they grant (config.json operators). */
  readonly operators?: readonly OperatorGrant[];
  /** The delegated OCSP signers in use, by issuer (for the overview); absent: none shown. */
  readonly ocspSigners?: () => readonly { readonly issuerKeyId: string; readonly serial: string; readonly notAfter: Date }[];
  readonly tokenKey: KeyObject;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: ApiMetrics;
  readonly readiness: () => Promise<Readiness>;
  /** Prometheus text exposition of the service's metrics. */
  readonly metricsText: () => Promise<string>;
  /** Sign and renew requests allowed per caller per second. */
  readonly rateLimitPerSecond: number;
  /** The latest signed audit chain head (`{id, seal, at, jws, publicKey}`), published unauthenticated. */
  readonly auditHead: () => SignedAuditHead | undefined;
  /** The revocation feed `/v1/revocations/stream` serves (absent: the route is not served). */
  readonly revocationFeed?: RevocationFeed;
  /** The ACME server under /acme/ (absent: not served). */
  readonly acme?: AcmeService;
  readonly acmeOrders?: AcmeOrders;
  /** Subscriptions that feed may hold at once (a share of the HTTPS listener's connections; default 768). */
  readonly maxStreamSubscriptions?: number;
  /** Where refused authentications are counted for the audit log (see auth/refusals.ts). */
  readonly refusals: { record(actor: string, action: string, code: string, remoteAddress: string | undefined, detail?: Readonly<Record<string, unknown>>): void };
}
