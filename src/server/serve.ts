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
import { generateKeyPair, privateKeyToPem, readPublicKeyInfo, signerFor, spkiOf } from '../crypto/keys.js';
import { CrlPublisher } from '../revocation/crl-publisher.js';
import { OcspResponder } from '../revocation/ocsp-responder.js';
import { storeSource } from '../revocation/ocsp-source.js';
import { toPem } from '../crypto/pem.js';
import { CaError } from '../errors.js';
import { CA_FILES } from '../store/ca-directory.js';
import { LocalCa } from './local-ca.js';
import { acquireServeLock } from './lock.js';
import { createMetrics } from './metrics.js';

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

export interface ServeOptions {
  readonly dir: string;
  readonly listen: ListenAddress;
  readonly httpListen: ListenAddress;
  readonly passphrase: string | undefined;
  readonly rateLimitPerSecond?: number;
  /** Threads that verify CSRs and sign leaves for the API (0: the main thread does it). Default: one per core but one. */
  readonly signingWorkers?: number;
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

/** Starts `ca serve` on a CA directory. */
export async function startService(options: ServeOptions): Promise<RunningService> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? pino({ base: { service: 'meshca' } });
  const ca = LocalCa.open(options.dir);
  let lock;
  try {
    lock = acquireServeLock(join(ca.directory.dir, CA_FILES.serveLock), options.dir);
  } catch (e) {
    ca.close();
    throw e;
  }
  const timers = new Set<NodeJS.Timeout>();
  let stopWatching = (): void => {};
  let stopSigning = (): Promise<void> => Promise.resolve();
  /** Replaces a credential of the service's own at two thirds of its life, retrying every minute on failure. */
  const keepRenewed = (what: string, current: Validity, renew: () => Validity): void => {
    const at = current.notBefore.getTime() + ((current.notAfter.getTime() - current.notBefore.getTime()) * 2) / 3;
    const timer = setTimeout(() => {
      timers.delete(timer);
      let next: Validity;
      try {
        next = renew();
      } catch (e) {
        logger.error({ err: e }, `could not renew ${what}; retrying in a minute`);
        next = { notBefore: new Date(Date.now() - 120_000), notAfter: new Date(Date.now() + 60_000) };
      }
      keepRenewed(what, next, renew);
    }, Math.max(1000, Math.min(at - Date.now(), 2 ** 31 - 1)));
    timer.unref();
    timers.add(timer);
  };
  const servers: (HttpServer | HttpsServer)[] = [];
  try {
    const authority = ca.authority(options.passphrase);
    stopSigning = () => authority.stopSigningWorkers();
    const signingWorkers = await authority.startSigningWorkers(options.signingWorkers ?? Math.max(1, availableParallelism() - 1));
    const tokenKey = ca.directory.loadKey('token', options.passphrase);
    const metrics = createMetrics({ root: authority.root.notAfter, intermediate: authority.intermediate.notAfter });
    const readiness = (): Readiness => {
      const checks: Record<string, string> = {};
      try {
        ca.store.findBySerial('00');
        checks.database = 'ok';
      } catch (e) {
        checks.database = (e as Error).message;
      }
      checks.intermediate = authority.intermediate.notAfter > clock.now() ? 'ok' : 'expired';
      return { ok: Object.values(checks).every((v) => v === 'ok'), checks };
    };
    const deps = {
      authority,
      apiKeys: ca.store,
      appendAudit: (e: Parameters<typeof ca.store.appendAudit>[0]) => ca.store.appendAudit(e),
      readAuditLog: () => ca.store.auditLog(),
      tokenKey,
      clock,
      logger,
      metrics,
      readiness,
      metricsText: () => metrics.registry.metrics(),
      rateLimitPerSecond: options.rateLimitPerSecond ?? 100,
    };

    // Revocation publishing: CRLs re-signed after every revocation and at half their validity; an OCSP
    // responder with a delegated, short-lived signer; a 250 ms poll of the revocation log so a local
    // `ca revoke` on the directory shows in both within a second.
    const publisher = new CrlPublisher({
      sign: (level) => authority.signCrl(level),
      onError: (e) => logger.error({ err: e }, 'could not publish the CRLs; retrying at the next change or interval'),
      onPublished: (crl) => logger.info({ level: crl.level, number: crl.number.toString(), entries: crl.entries, nextUpdate: crl.nextUpdate }, 'published CRL'),
    });
    const responder = new OcspResponder({
      issuerSubject: authority.intermediate.subject,
      issuerKeyBits: readPublicKeyInfo(authority.intermediate.certificate.spki).keyBytes,
      source: storeSource(ca.store, authority.intermediate.keyIdHex),
      clock,
      validitySeconds: OCSP_RESPONSE_SECONDS,
    });
    const installOcspSigner = () => {
      const key = generateKeyPair('ec-p256').privateKey;
      const spki = spkiOf(key);
      const cert = authority.issueOcspSigner(spki, OCSP_SIGNER_SECONDS, { actor: 'system:serve' });
      responder.setSigner({ signer: signerFor(key), certificate: cert.der, keyHash: createHash('sha1').update(readPublicKeyInfo(spki).keyBytes).digest() });
      logger.info({ serial: cert.serial, notAfter: cert.notAfter }, 'installed the OCSP signer');
      return cert;
    };
    keepRenewed('the OCSP signer', installOcspSigner(), installOcspSigner);
    await publisher.refresh();
    let revocationSeq = ca.store.revocationsSince(0).seq;
    const watch = setInterval(() => {
      try {
        const { seq, serials } = ca.store.revocationsSince(revocationSeq);
        if (seq === revocationSeq) return;
        revocationSeq = seq;
        responder.invalidate(serials ?? undefined);
        void publisher.refresh();
      } catch (e) {
        logger.error({ err: e }, 'could not read the revocation log');
      }
    }, REVOCATION_POLL_MS);
    watch.unref();
    stopWatching = () => {
      clearInterval(watch);
      publisher.stop();
    };
    const revocationHandler = createRevocationHandler({ publisher, responder });

    // The service's own certificate, issued by the CA it serves and renewed at two thirds of its life.
    const names = serverNames(options.listen.host);
    const issueServerCredentials = () => {
      const key = generateKeyPair('ec-p256').privateKey;
      const leaf = authority.issue(
        { commonName: 'meshca CA service', spiffeId: `spiffe://${authority.trustDomain}/meshca/ca`, ...names, key: { spki: spkiOf(key) } },
        { actor: 'system:serve' },
      );
      return { key: privateKeyToPem(key), cert: `${toPem('CERTIFICATE', leaf.der)}${authority.chainPem}`, leaf };
    };
    const tlsOptions = () => {
      const c = issueServerCredentials();
      return { c, secure: { key: c.key, cert: c.cert, ca: [authority.root.pem, authority.intermediate.pem] } };
    };
    const first = tlsOptions();
    const https = createHttpsServer(
      { ...first.secure, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2', maxHeaderSize: 16 * 1024, requestTimeout: 30_000, keepAliveTimeout: 5_000 },
      createApiApp(deps, revocationHandler),
    );
    keepRenewed('the service certificate', first.c.leaf, () => {
      const next = tlsOptions();
      https.setSecureContext(next.secure);
      logger.info({ serial: next.c.leaf.serial, notAfter: next.c.leaf.notAfter }, 'renewed the service certificate');
      return next.c.leaf;
    });

    const publicHandler = createPublicHandler(deps);
    const http = createHttpServer({ maxHeaderSize: 16 * 1024, requestTimeout: 30_000, keepAliveTimeout: 5_000 }, (req, res) => {
      if (revocationHandler(req, res) || publicHandler(req, res)) return;
      const body = JSON.stringify({ error: { code: 'ERR_NOT_FOUND', message: `api: ${req.url} is not served over plain HTTP (the API is on the HTTPS listener)` } });
      res.writeHead(404, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    servers.push(https, http);
    const httpsAddress = await listen(https, options.listen, 'the HTTPS API');
    const httpAddress = await listen(http, options.httpListen, 'plain HTTP');
    logger.info({ https: httpsAddress, http: httpAddress, dir: ca.directory.dir, serverCertificate: first.c.leaf.serial, signingWorkers }, 'listening');

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
          ca.close();
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
    ca.close();
    lock.release();
    throw e;
  }
}
