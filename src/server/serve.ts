// Composition root of `ca serve`: lock the directory, wire store → authority → API, run the HTTPS and HTTP listeners.

import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { availableParallelism, hostname } from 'node:os';
import { isIP, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { createApiApp } from '../api/app.js';
import { createPublicHandler } from '../api/public.js';
import type { Readiness } from '../api/ports.js';
import { systemClock, type Clock } from '../crypto/clock.js';
import { createHash } from 'node:crypto';
import { createRevocationHandler } from '../api/revocation-http.js';
import { generateKeyPair, readPublicKeyInfo, signerFor, spkiOf } from '../crypto/keys.js';
import { auditPublicKey, signAuditHead } from '../audit/audit-key.js';
import type { SignedAuditHead } from '../api/ports.js';
import type { AuditEvent } from '../authority/ports.js';
import { RefusalLog } from '../auth/refusals.js';
import { CrlPublisher } from '../revocation/crl-publisher.js';
import { RevocationFeed } from '../authority/revocation-feed.js';
import { AcmeService } from '../acme/service.js';
import { AcmeOrders } from '../acme/orders.js';
import { eabSealingKey } from '../acme/eab-keys.js';
import { auditSealKey } from '../audit/audit-key.js';
import { OcspResponder, OcspResponders } from '../revocation/ocsp-responder.js';
import { SigningBudget } from '../revocation/signing-budget.js';
import type { Issuer } from '../authority/issuer.js';
import { storeSource } from '../revocation/ocsp-source.js';
import { CaError } from '../errors.js';
import { CA_FILES } from '../store/ca-directory.js';
import { LocalCa } from './local-ca.js';
import { acquireServeLock } from './lock.js';
import { createMetrics } from './metrics.js';
import { ServiceCertificate } from './service-certificate.js';
import { boundedPerConnection, dropIdleSockets } from './slow-clients.js';

type Validity = { readonly notBefore: Date; readonly notAfter: Date };

/** Where a listener binds. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** Parses `HOST:PORT` or `[V6]:PORT`; port 0 lets the OS choose. */
export function parseListenAddress(text: string, what: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new CaError('ERR_USAGE', `server: ${what} "${text}" is not HOST:PORT`);
  return { host: m[1] ?? m[2]!, port };
}

/** How long a connection may take at each step, and how many a listener holds at once. */
export interface ListenerLimits {
  /** From TCP accept to a finished TLS handshake (HTTPS listener). */
  readonly handshakeTimeoutMs: number;
  /** From the connection (or the previous response) to the end of the request headers. */
  readonly headersTimeoutMs: number;
  /** For a whole request, body included. */
  readonly requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveTimeoutMs: number;
  /** Connections held at once per listener; more are closed as they arrive. */
  readonly maxConnections: number;
}

/** Safe defaults for {@link ListenerLimits}: a slow or idle client is dropped within seconds, not minutes. */
export const LISTENER_DEFAULTS: ListenerLimits = { handshakeTimeoutMs: 10_000, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 5_000, maxConnections: 1024 };

export interface ServeOptions {
  readonly dir: string;
  readonly listen: ListenAddress;
  readonly httpListen: ListenAddress;
  readonly passphrase: string | undefined;
  /**
   * Names the service's own TLS certificate carries besides its listen address's: the name clients use to reach
   * the replicas behind a load balancer (`ca.internal`), and its addresses.
   */
  readonly serviceNames?: { readonly dnsNames: readonly string[]; readonly ipAddresses: readonly string[] };
  /** Opens private/root.key when it has a passphrase of its own (ROOT_CA_PASSPHRASE); else `passphrase` does. */
  readonly rootPassphrase?: string | undefined;
  readonly rateLimitPerSecond?: number;
  /** Threads that verify CSRs and sign leaves for the API (0: the main thread does it). Default: one per core but one. */
  readonly signingWorkers?: number;
  readonly limits?: Partial<ListenerLimits>;
  /** OCSP responses signed on the fly (nonces, cache misses) per client address per second; 0: no limit. Default 200. */
  readonly ocspSignPerClientPerSecond?: number;
  /** How often the revocation stream sends a heartbeat (default 5 s). */
  readonly streamHeartbeatMs?: number;
  /** How often a signed audit head is logged and published (default 60 s). */
  readonly auditHeadIntervalMs?: number;
  readonly logger?: Logger;
  readonly clock?: Clock;
}

/** A running service. */
export interface RunningService {
  readonly https: AddressInfo;
  readonly http: AddressInfo;
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), closes the database and releases the lock. */
  close(graceMs?: number): Promise<void>;
}

/** OCSP responses are valid an hour; the delegated signer a day (renewed at two thirds). */
const OCSP_RESPONSE_SECONDS = 3600;
const OCSP_SIGNER_SECONDS = 86400;
/** How often the revocation log is read for changes made by other processes. */
const REVOCATION_POLL_MS = 250;
const AUDIT_HEAD_INTERVAL_MS = 60_000;
/** How often the intermediate on disk is checked for a rotation, and whether this service should rotate it. */
const ROTATION_POLL_MS = 1_000;
/** How often retired intermediates are checked for a last leaf that has expired. */
const RETIRED_CHECK_MS = 10 * 60_000;
/** From this long before the intermediate expires, a service that cannot rotate it warns. */
const ROTATION_WARNING_MS = 30 * 86400_000;

const LOOPBACK_NAMES = { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] };

/** The names the service's own TLS certificate carries for a listen host. */
function serverNames(host: string): { dnsNames: string[]; ipAddresses: string[] } {
  if (host === '0.0.0.0' || host === '::') return { dnsNames: [hostname().toLowerCase(), ...LOOPBACK_NAMES.dnsNames], ipAddresses: LOOPBACK_NAMES.ipAddresses };
  if (isIP(host)) return { dnsNames: LOOPBACK_NAMES.dnsNames, ipAddresses: [...new Set([host, ...LOOPBACK_NAMES.ipAddresses])] };
  return { dnsNames: [...new Set([host.toLowerCase(), ...LOOPBACK_NAMES.dnsNames])], ipAddresses: LOOPBACK_NAMES.ipAddresses };
}

async function listen(server: HttpServer | HttpsServer, at: ListenAddress, what: string): Promise<AddressInfo> {
  server.listen(at.port, at.host);
  try {
    await once(server, 'listening');
  } catch (e) {
    throw new CaError('ERR_LISTEN', `server: cannot listen for ${what} on ${at.host}:${at.port}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return server.address() as AddressInfo;
}

/**
 * Answers what Node's HTTP parser refuses (headers over the limit, a malformed request line, a request that took
 * too long) with the same JSON error body as every other 4xx, instead of Node's bare status line.
 */
function jsonClientErrors(server: HttpServer | HttpsServer): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // Only the HTTP parser's own refusals get an answer; a failed TLS handshake or a reset just closes.
    const parser = err.code?.startsWith('HPE_') === true || err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    if (!parser || !socket.writable) return void socket.destroy();
    const [status, code, message] =
      err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'ERR_HEADERS_TOO_LARGE', 'api: the request line and headers exceed 16 KiB']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'ERR_REQUEST_TIMEOUT', 'api: the request took too long to arrive']
      : [400, 'ERR_BAD_REQUEST', 'api: the request is not valid HTTP/1.1'];
    const body = JSON.stringify({ error: { code, message } });
    socket.end(`HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  });
}

/** How long /readyz waits for the database to answer. */
const READY_DATABASE_MS = 2_000;

/** `promise`, or a rejection with `message` after `ms`. */
function withinMs<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CaError('ERR_DATABASE_UNAVAILABLE', `server: ${message}`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * A periodic job's failures, logged once when they start (not at every retry: a database outage would otherwise
 * write a line every 250 ms) and once when the job works again.
 */
function reportOnce(logger: Logger, what: string): { failed(e: unknown): void; ok(): void } {
  let failing = false;
  return {
    failed(e) {
      // The cause's message and code, not a stack: an outage is not a bug.
      if (!failing) logger.error({ error: (e as Error).message, code: (e as { code?: unknown }).code }, `${what}; retrying`);
      failing = true;
    },
    ok() {
      if (failing) logger.info(`${what}: works again`);
      failing = false;
    },
  };
}

/** `produce`, computed at most once per `ms`: /metrics is unauthenticated, and rendering it costs a millisecond. */
function cachedFor<T>(ms: number, produce: () => Promise<T>): () => Promise<T> {
  let cached: { at: number; value: Promise<T> } | undefined;
  return () => {
    const now = Date.now();
    if (!cached || now - cached.at >= ms) cached = { at: now, value: produce() };
    return cached.value;
  };
}

/** Starts `ca serve` on a CA directory. */
export async function startService(options: ServeOptions): Promise<RunningService> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? pino({ base: { service: 'meshca' } });
  const ca = await LocalCa.open(options.dir);
  let lock;
  try {
    lock = acquireServeLock(join(ca.directory.dir, CA_FILES.serveLock), options.dir);
  } catch (e) {
    await ca.close();
    throw e;
  }
  if (ca.store.upgraded) logger.warn({ store: ca.store.location, from: ca.store.upgraded.from, to: ca.store.upgraded.to }, 'upgraded the CA database; what changed is in the audit log under system:migrate');
  const loose = ca.directory.looseModes();
  if (loose.length > 0) {
    logger.warn({ loose }, `other local users can read the CA directory: run chmod 700 ${ca.directory.dir} ${join(ca.directory.dir, CA_FILES.privateDir)} and chmod 600 on the files in them`);
  }
  const timers = new Set<NodeJS.Timeout>();
  const refusalJobs = reportOnce(logger, 'could not audit refused authentications');
  const refusals = new RefusalLog({ appendAuditBatch: (events) => ca.store.appendAuditBatch(events).then(() => refusalJobs.ok()) }, (e) => refusalJobs.failed(e));
  let stopWatching = (): void => {};
  let stopSigning = (): Promise<void> => Promise.resolve();
  /** Replaces a credential of the service's own at two thirds of its life, retrying every minute on failure. */
  const keepRenewed = (what: string, current: Validity, renew: () => Promise<Validity>, alive: () => boolean = () => true): void => {
    const at = current.notBefore.getTime() + ((current.notAfter.getTime() - current.notBefore.getTime()) * 2) / 3;
    // A credential cut short by its issuer's expiry is not renewed in a loop: the next try is a minute away.
    const delay = current.notAfter.getTime() - Date.now() < 120_000 ? 60_000 : at - Date.now();
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!alive()) return;
      void renew().then(
        (next) => keepRenewed(what, next, renew, alive),
        (e: unknown) => {
          logger.error({ err: e }, `could not renew ${what}; retrying in a minute`);
          keepRenewed(what, { notBefore: new Date(Date.now() - 120_000), notAfter: new Date(Date.now() + 60_000) }, renew, alive);
        },
      );
    }, Math.max(1000, Math.min(delay, 2 ** 31 - 1)));
    timer.unref();
    timers.add(timer);
  };
  const servers: (HttpServer | HttpsServer)[] = [];
  try {
    const authority = await ca.authority(options.passphrase);
    await ca.checkRootKey(options.passphrase, options.rootPassphrase);
    stopSigning = () => authority.stopSigningWorkers();
    const signingWorkers = await authority.startSigningWorkers(options.signingWorkers ?? Math.max(1, availableParallelism() - 1));
    const tokenKey = await ca.tokenKey(options.passphrase);
    const metrics = createMetrics({ root: authority.root.notAfter, intermediate: authority.intermediate.notAfter }, (within) => ca.store.count({ kind: 'leaf', expiringWithinSeconds: within, now: clock.now() }));
    /** What needs an operator, by subject: shown in /readyz `warnings` (and as failed checks when `failing`). */
    const attention = new Map<string, { message: string; failing: boolean }>();
    const attend = (subject: string, message: string | undefined, failing = false): void => {
      const before = attention.get(subject)?.message;
      if (message === undefined) attention.delete(subject);
      else attention.set(subject, { message, failing });
      if (message !== undefined && message !== before) logger.warn({ subject }, message);
    };
    const databaseCheck = reportOnce(logger, 'the readiness check found the database failing');
    const readiness = async (): Promise<Readiness> => {
      const checks: Record<string, string> = {};
      try {
        await withinMs(ca.store.ping(), READY_DATABASE_MS, `the database did not answer within ${READY_DATABASE_MS} ms`);
        checks.database = 'ok';
        metrics.databaseUp(true);
        databaseCheck.ok();
      } catch (e) {
        // /readyz is public: it says what failed, not where the database is (the log does).
        const code = e instanceof CaError ? e.code : undefined;
        checks.database = code === undefined || code === 'ERR_DATABASE_UNAVAILABLE' ? `unavailable (${code ?? 'no answer'}): see the service log` : `failing (${code}): see the service log`;
        metrics.databaseUp(false);
        databaseCheck.failed(e);
      }
      checks.intermediate = authority.intermediate.notAfter > clock.now() ? 'ok' : 'expired';
      const warnings: Record<string, string> = {};
      for (const [subject, a] of attention) (a.failing ? checks : warnings)[subject] = a.message;
      return { ok: Object.values(checks).every((v) => v === 'ok'), checks, warnings };
    };
    // The audit chain's head, signed with the audit key, logged and published so truncation shows from outside.
    const auditKeyPublic = await auditPublicKey(ca.auditKey);
    let signedHead: SignedAuditHead | undefined;
    const publishHead = async (): Promise<void> => {
      const head = await ca.store.auditHead();
      if (!head) return;
      const at = clock.now();
      const jws = await signAuditHead(ca.auditKey, { trustDomain: authority.trustDomain, id: head.id, seal: head.seal, at });
      signedHead = { id: head.id, seal: head.seal, at: at.toISOString(), jws, publicKey: auditKeyPublic };
      logger.info({ id: head.id, seal: head.seal, jws }, 'audit head');
    };
    // The push channel: every revocation (and renewal advice) of any process on the store, with the issuer's
    // signed statement, to every subscriber of this replica.
    const feed = new RevocationFeed({
      source: ca.store,
      statement: (r) => responderOf.get(r.issuerKeyId)?.statementFor(r.serial, r),
      heartbeat: () => ({
        crls: authority.publishedIntermediates.flatMap((i) => {
          const crl = publisher.byKeyId(i.keyIdHex);
          return crl ? [{ issuerKeyId: i.keyIdHex, number: crl.number.toString(), nextUpdate: crl.nextUpdate.toISOString() }] : [];
        }),
      }),
      ...(options.streamHeartbeatMs === undefined ? {} : { heartbeatMs: options.streamHeartbeatMs }),
    });
    metrics.countSubscribers(() => feed.size);
    // Three quarters of the HTTPS listener's connections at most go to stream subscriptions: the rest stay free for
    // sign, renew and revoke, whatever the fleet (or one misbehaving client) does.
    const limits = { ...LISTENER_DEFAULTS, ...options.limits };
    const acme = new AcmeService({ store: ca.store, clock, sealingKey: eabSealingKey(auditSealKey(ca.auditKey)) });
    const acmeOrders = new AcmeOrders({ store: ca.store, authority, clock, route: { ...ca.directory.config.acmeValidation, timeoutMs: 10_000 } });
    const deps = {
      acme,
      acmeOrders,
      revocationFeed: feed,
      maxStreamSubscriptions: Math.floor((limits.maxConnections * 3) / 4),
      authority,
      apiKeys: ca.store,
      appendAudit: (e: AuditEvent) => ca.store.appendAudit(e),
      readAuditLog: (page: { limit: number; after?: number; before?: number }) => ca.store.auditLog(page),
      verifyAuditChain: () => ca.store.verifyAuditChain(),
      operators: ca.directory.config.operators,
      ocspSigners: () => [...ocspSigners.entries()].map(([issuerKeyId, s]) => ({ issuerKeyId, ...s })),
      tokenKey,
      clock,
      logger,
      metrics,
      readiness,
      metricsText: cachedFor(1_000, () => metrics.registry.metrics()),
      rateLimitPerSecond: options.rateLimitPerSecond ?? 100,
      refusals,
      auditHead: () => signedHead,
    };

    // Revocation publishing: each intermediate's CRL re-signed after every revocation and at half its validity,
    // the root's as signed with the root key; an OCSP responder per intermediate with a delegated, short-lived
    // signer. What was signed keeps being served while the database is out of reach.
    const crlJobs = reportOnce(logger, 'could not publish the CRLs (the ones signed before are served while valid)');
    const signedHere = new Set<string>();
    const publisher = new CrlPublisher({
      issuers: () => authority.publishedIntermediates,
      // The first CRL this process publishes for an intermediate is signed here, not adopted: after a restore from
      // a backup the stored one is older than what relying parties hold, and a fresh number (from the time) is above it.
      sign: async (issuer) => {
        const crl = await authority.currentCrl(issuer, { fresh: !signedHere.has(issuer.keyIdHex) });
        signedHere.add(issuer.keyIdHex);
        return crl;
      },
      rootCrl: () => ca.rootCrl(options.passphrase),
      onError: (e) => crlJobs.failed(e),
      onPublished: (crl) => {
        crlJobs.ok();
        logger.info({ crl: crl.level, issuer: crl.issuerKeyIdHex, number: crl.number.toString(), entries: crl.entries, nextUpdate: crl.nextUpdate }, 'published CRL');
      },
    });
    const budget = new SigningBudget(options.ocspSignPerClientPerSecond ?? 200);
    const responders = new OcspResponders();
    const responderOf = new Map<string, OcspResponder>();
    const ocspSource = reportOnce(logger, 'OCSP could not read the database (answers come from the pre-signed cache, else tryLater)');
    /** The delegated OCSP signer in use for each intermediate (shown by /v1/overview). */
    const ocspSigners = new Map<string, { serial: string; notAfter: Date }>();
    const installOcspSigner = async (issuer: Issuer, responder: OcspResponder): Promise<Validity> => {
      const key = generateKeyPair('ec-p256').privateKey;
      const spki = spkiOf(key);
      const cert = await authority.issueOcspSigner(issuer, spki, OCSP_SIGNER_SECONDS, { actor: 'system:serve' });
      responder.setSigner({ signer: signerFor(key), certificate: cert.der, keyHash: createHash('sha1').update(readPublicKeyInfo(spki).keyBytes).digest() });
      logger.info({ serial: cert.serial, issuer: issuer.certificate.serial, notAfter: cert.notAfter }, 'installed the OCSP signer');
      ocspSigners.set(issuer.keyIdHex, { serial: cert.serial, notAfter: cert.notAfter });
      return cert;
    };
    /** A responder for each unexpired intermediate that answers for leaves; those of dropped or expired ones stop. */
    const installResponders = async (): Promise<void> => {
      const live = authority.intermediates.filter((i) => i.notAfter > clock.now());
      const wanted = new Set(live.map((i) => i.keyIdHex));
      for (const id of [...responderOf.keys()]) if (!wanted.has(id)) responderOf.delete(id);
      for (const issuer of live) {
        if (responderOf.has(issuer.keyIdHex)) continue;
        const responder = new OcspResponder({
          issuerSubject: issuer.subject,
          issuerKeyBits: readPublicKeyInfo(issuer.certificate.spki).keyBytes,
          source: storeSource(ca.store, issuer.keyIdHex),
          clock,
          validitySeconds: OCSP_RESPONSE_SECONDS,
          budget,
          onSourceError: (e) => ocspSource.failed(e),
        });
        responderOf.set(issuer.keyIdHex, responder);
        const signer = await installOcspSigner(issuer, responder);
        keepRenewed(`the OCSP signer of ${issuer.certificate.serial}`, signer, () => installOcspSigner(issuer, responder), () => responderOf.get(issuer.keyIdHex) === responder);
      }
      responders.set(live.map((i) => responderOf.get(i.keyIdHex)!));
    };
    const revocationHandler = createRevocationHandler({ publisher, responder: responders });
    const httpLimits = {
      maxHeaderSize: 16 * 1024,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Timeouts are enforced by a sweep; the default 30 s sweep lets a slow client stay that much longer.
      connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
    };
    // The TLS credentials come once both ports are held: a service that cannot listen issues nothing.
    const https = createHttpsServer(
      { requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2', handshakeTimeout: limits.handshakeTimeoutMs, ...httpLimits },
      boundedPerConnection(createApiApp(deps, revocationHandler)),
    );
    https.maxConnections = limits.maxConnections;
    const publicHandler = createPublicHandler(deps);
    const http = createHttpServer(httpLimits, boundedPerConnection((req, res) => {
      if (revocationHandler(req, res) || publicHandler(req, res)) return;
      const path = (req.url ?? '/').split('?')[0]!;
      const message = path.startsWith('/crl/')
        ? `revocation: no CRL at ${path.slice(0, 100)} (served: /crl/root.crl, /crl/intermediate.crl, /crl/<issuer key id, lowercase hex>.crl, .pem for each, and /crl/all.pem)`
        : `api: ${path.slice(0, 100)} is not served over plain HTTP (the API is on the HTTPS listener)`;
      const body = JSON.stringify({ error: { code: 'ERR_NOT_FOUND', message } });
      res.writeHead(404, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    }));
    http.maxConnections = limits.maxConnections;
    for (const server of [https, http]) {
      dropIdleSockets(server, limits.requestTimeoutMs);
      jsonClientErrors(server);
    }
    servers.push(https, http);
    const httpsAddress = await listen(https, options.listen, 'the HTTPS API');
    const httpAddress = await listen(http, options.httpListen, 'plain HTTP');

    // The service's own certificate: issued by the CA it serves (reserved identity spiffe://TD/meshca/ca),
    // renewed at two thirds of its life and replaced at once if it is revoked. Installed before anything else
    // awaits, so no handshake finds the listener without it.
    const names = serverNames(options.listen.host);
    const service = await ServiceCertificate.issue(authority, { dnsNames: [...new Set([...(options.serviceNames?.dnsNames ?? []), ...names.dnsNames])], ipAddresses: [...new Set([...(options.serviceNames?.ipAddresses ?? []), ...names.ipAddresses])] }, logger);
    https.setSecureContext(service.tlsOptions);
    service.start((tls) => https.setSecureContext(tls));
    await installResponders();
    await publisher.refresh();

    // Rotation: a new intermediate (made here at two thirds of the current one's life when the root key is at hand,
    // or anywhere by `ca intermediate rotate`) is seen in the store within a second: it signs new leaves after the
    // rotation lead, the old one keeps its CRL and OCSP answers until its last leaf expires.
    let hierarchy = await ca.hierarchy(options.passphrase);
    let stamp = hierarchy.stamp;
    let lastReload = Date.now();
    /** When the newest intermediate's rotation lead ends (while it has not begun to sign). */
    let switchAt: number | undefined = hierarchy.signsFrom.getTime() > Date.now() ? hierarchy.signsFrom.getTime() : undefined;
    const reload = async (why: string): Promise<void> => {
      hierarchy = await ca.hierarchy(options.passphrase);
      stamp = hierarchy.stamp;
      lastReload = Date.now();
      switchAt = hierarchy.signsFrom.getTime() > lastReload ? hierarchy.signsFrom.getTime() : undefined;
      const { active, retired, keyless } = hierarchy;
      if (active === undefined) return;
      const ids = (list: readonly { keyIdHex: string }[]) => list.map((i) => i.keyIdHex).join();
      if (ids([active, ...retired]) === ids(authority.intermediates) && ids(keyless) === ids(authority.publishedIntermediates.slice(authority.intermediates.length))) return;
      const previous = authority.intermediate;
      await authority.setIntermediates(active, retired, keyless);
      await installResponders();
      metrics.caNotAfter({ root: authority.root.notAfter, intermediate: active.notAfter });
      if (active.keyIdHex !== previous.keyIdHex) await service.rotated();
      await publisher.refresh();
      logger.info({ why, intermediate: active.certificate.serial, notAfter: active.notAfter, retired: retired.map((r) => r.certificate.serial) }, 'intermediates changed');
    };
    const hierarchyJobs = reportOnce(logger, 'could not read the CA hierarchy from the database');
    let rotateRetryAt = 0;
    let rotationError: string | undefined;
    let ticking = false;
    const rotationTick = async (): Promise<void> => {
      if (ticking) return;
      ticking = true;
      try {
        const now = Date.now();
        const current = await ca.hierarchyStamp();
        if (current !== stamp) {
          await reload('the hierarchy in the database changed (a rotation, or the root CRL re-signed)');
          await publisher.refresh();
        } else if (switchAt !== undefined && now >= switchAt) {
          await reload('the new intermediate was published for the rotation lead and now signs');
        } else if (hierarchy.missingKeys.length > 0 || now - lastReload > RETIRED_CHECK_MS) {
          // A key copied into private/ since, or retired intermediates whose last leaf has expired.
          await reload(hierarchy.missingKeys.length > 0 ? 'looking for intermediate keys copied into private/' : 'a retired intermediate may have no unexpired leaf left');
        }
        // Due at two thirds of the newest intermediate's life (during its lead, the one a rotation published).
        const newest = hierarchy.newest;
        const due = newest.notBefore.getTime() + ((newest.notAfter.getTime() - newest.notBefore.getTime()) * 2) / 3;
        if (now >= due && now >= rotateRetryAt && ca.directory.hasRootKey) {
          rotateRetryAt = now + 60_000; // a failure is retried in a minute, not every second
          try {
            const rotated = await ca.rotateIntermediate(options.passphrase, { passphrase: options.rootPassphrase }, { actor: 'system:serve' });
            rotationError = undefined;
            logger.info({ previous: rotated.previous.serial, current: rotated.current.serial, notAfter: rotated.current.notAfter }, 'rotated the intermediate at two thirds of its life');
          } catch (e) {
            if ((e as CaError).code === 'ERR_ROTATION_CONFLICT') logger.info('another process rotated the intermediate first');
            else rotationError = (e as Error).message;
          }
          await reload('rotated at two thirds of its life');
        }
        const left = newest.notAfter.getTime() - now;
        attend(
          'intermediate',
          rotationError !== undefined
            ? `the automatic rotation of the intermediate failed (${rotationError}); it expires at ${newest.notAfter.toISOString()}: rotate it with ca intermediate rotate --dir DIR --root-key FILE`
            : left < ROTATION_WARNING_MS && !ca.directory.hasRootKey
              ? `the intermediate expires at ${newest.notAfter.toISOString()}; the root key is offline, so rotate it with: ca intermediate rotate --dir DIR --root-key FILE`
              : undefined,
        );
        metrics.rotationNeeded(attention.has('intermediate'));
        // A key this replica lacks: a warning during the rotation lead, not ready once that intermediate should sign.
        // Said without this machine's paths: /readyz answers anyone.
        const missing = hierarchy.missingKeys.length > 0
          ? `private/ holds no key for intermediate ${hierarchy.missingKeys.map((m) => m.serial).join(', ')} (made by a rotation elsewhere): copy private/intermediates/${hierarchy.missingKeys[0]!.serial}.key from the machine that made it${hierarchy.missingKeys.length > 1 ? ', and the others' : ''}; copy the private/ folder from a working replica`
          : undefined;
        attend('intermediateKey', missing, missing !== undefined && authority.intermediate.certificate.serial !== hierarchy.signer);
        metrics.keyMissing(missing !== undefined);
        const rootCrl = publisher.get('root');
        attend(
          'rootCrl',
          rootCrl === undefined
            ? `the root's CRL is missing, so /crl/all.pem and /crl/root.pem are not served: sign it with ca crl --root --root-key FILE --dir DIR --out FILE`
            : rootCrl.nextUpdate.getTime() - now < ROTATION_WARNING_MS
              ? `the root's CRL ${rootCrl.nextUpdate.getTime() <= now ? 'expired' : 'expires'} at ${rootCrl.nextUpdate.toISOString()} (relying parties that check every level then refuse every peer): re-sign it with ca crl --root --root-key FILE --dir DIR --out FILE`
              : undefined,
        );
        // A CRL another process published under a higher number than the one served here (PostgreSQL says so at once too).
        for (const issuer of authority.publishedIntermediates) {
          const stored = await ca.store.publishedCrl(issuer.keyIdHex);
          if (stored && stored.number > (publisher.byKeyId(issuer.keyIdHex)?.number ?? -1n)) {
            void publisher.refresh();
            break;
          }
        }
        hierarchyJobs.ok();
      } catch (e) {
        hierarchyJobs.failed(e);
      } finally {
        ticking = false;
      }
    };
    await rotationTick();
    const rotationTimer = setInterval(() => void rotationTick(), ROTATION_POLL_MS);
    rotationTimer.unref();

    // Revocations made by any process on the store (another replica, `ca revoke --dir`): read from the revocation
    // log at once when the store announces them, and every 250 ms regardless.
    const revocationJobs = reportOnce(logger, 'could not read the revocation log');
    let revocationSeq = (await ca.store.revocationsSince(0)).seq;
    let watching: Promise<void> | undefined;
    let watchAgain = false;
    const watchRevocations = (): Promise<void> => {
      if (watching) {
        watchAgain = true;
        return watching;
      }
      watching = (async () => {
        do {
          watchAgain = false;
          try {
            const { seq, serials } = await ca.store.revocationsSince(revocationSeq);
            revocationJobs.ok();
            if (seq === revocationSeq) continue;
            metrics.revoked(serials?.length ?? seq - revocationSeq);
            revocationSeq = seq;
            responders.invalidate(serials ?? undefined);
            void publisher.refresh();
            await service.revoked(serials, async (serial) => (await ca.store.findBySerial(serial))?.revokedAt != null);
          } catch (e) {
            revocationJobs.failed(e);
          }
        } while (watchAgain);
        watching = undefined;
      })();
      return watching;
    };
    const feedJobs = reportOnce(logger, 'could not read new revocations for the revocation stream');
    const pollFeed = (): Promise<void> => feed.poll().then(() => feedJobs.ok(), (e: unknown) => feedJobs.failed(e));
    await feed.start(revocationSeq);
    const watch = setInterval(() => {
      void watchRevocations();
      void pollFeed();
    }, REVOCATION_POLL_MS);
    watch.unref();
    const unsubscribe = ca.store.onChange((what) => {
      if (what === 'revocation') void watchRevocations().then(pollFeed);
      else if (what === 'advice') void pollFeed();
      else if (what === 'crl') void publisher.refresh();
      else void rotationTick();
    });
    await publishHead();
    const headJobs = reportOnce(logger, 'could not sign the audit head');
    const headTimer = setInterval(() => void publishHead().then(() => headJobs.ok(), (e: unknown) => headJobs.failed(e)), options.auditHeadIntervalMs ?? AUDIT_HEAD_INTERVAL_MS);
    headTimer.unref();
    stopWatching = () => {
      feed.stop();
      clearInterval(watch);
      clearInterval(headTimer);
      clearInterval(rotationTimer);
      unsubscribe();
      publisher.stop();
      service.stop();
    };
    // The CRL and OCSP URLs written into certificates must reach this listener; another CA's (a second CA on one
    // machine, the default 127.0.0.1:8080 of both) is the usual reason they do not.
    const publicUrl = new URL(ca.directory.config.publicUrl);
    const publicPort = Number(publicUrl.port || (publicUrl.protocol === 'https:' ? 443 : 80));
    const publicHost = publicUrl.hostname.replace(/^\[|\]$/g, '');
    const wildcard = httpAddress.address === '0.0.0.0' || httpAddress.address === '::';
    if (publicPort !== httpAddress.port || (!wildcard && isIP(publicHost) !== 0 && publicHost !== httpAddress.address)) {
      logger.warn({ publicUrl: ca.directory.config.publicUrl, http: httpAddress }, `the public URL written into certificates (${ca.directory.config.publicUrl}) is not this service's plain HTTP listener (${httpAddress.address}:${httpAddress.port}): relying parties will fetch CRLs and OCSP from elsewhere unless a proxy forwards them here`);
    }
    logger.info({ https: httpsAddress, http: httpAddress, dir: ca.directory.dir, store: ca.store.location, serverCertificate: service.serial, signingWorkers, limits }, 'listening');

    let closing: Promise<void> | undefined;
    return {
      https: httpsAddress,
      http: httpAddress,
      close(graceMs = 10_000) {
        closing ??= (async () => {
          for (const t of timers) clearTimeout(t);
          stopWatching();
          const closed = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
          for (const s of servers) s.closeIdleConnections();
          const grace = setTimeout(() => servers.forEach((s) => s.closeAllConnections()), graceMs);
          await Promise.all(closed);
          clearTimeout(grace);
          await authority.stopSigningWorkers();
          await refusals.close();
          await watching;
          await ca.close();
          lock.release();
          logger.info('stopped');
        })();
        return closing;
      },
    };
  } catch (e) {
    for (const t of timers) clearTimeout(t);
    stopWatching();
    for (const s of servers) s.close();
    await stopSigning();
    await refusals.close();
    await ca.close();
    lock.release();
    throw e;
  }
}
