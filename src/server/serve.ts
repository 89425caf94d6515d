// Composition root of `ca serve`: lock the directory, wire store → authority → API, run the HTTPS and HTTP listeners.

import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { hostname } from 'node:os';
import { isIP, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { createApiApp } from '../api/app.js';
import { createPublicHandler } from '../api/public.js';
import type { Readiness } from '../api/ports.js';
import { systemClock, type Clock } from '../crypto/clock.js';
import { generateKeyPair, privateKeyToPem, spkiOf } from '../crypto/keys.js';
import { toPem } from '../crypto/pem.js';
import { CaError } from '../errors.js';
import { CA_FILES } from '../store/ca-directory.js';
import { LocalCa } from './local-ca.js';
import { acquireServeLock } from './lock.js';
import { createMetrics } from './metrics.js';

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
  const servers: (HttpServer | HttpsServer)[] = [];
  try {
    const authority = ca.authority(options.passphrase);
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
      createApiApp(deps),
    );
    const scheduleRenewal = (leaf: { notBefore: Date; notAfter: Date }) => {
      const at = leaf.notBefore.getTime() + ((leaf.notAfter.getTime() - leaf.notBefore.getTime()) * 2) / 3;
      const timer = setTimeout(() => {
        timers.delete(timer);
        try {
          const next = tlsOptions();
          https.setSecureContext(next.secure);
          logger.info({ serial: next.c.leaf.serial, notAfter: next.c.leaf.notAfter }, 'renewed the service certificate');
          scheduleRenewal(next.c.leaf);
        } catch (e) {
          logger.error({ err: e }, 'could not renew the service certificate; retrying in a minute');
          scheduleRenewal({ notBefore: new Date(Date.now() - 120_000), notAfter: new Date(Date.now() + 60_000) });
        }
      }, Math.max(1000, Math.min(at - Date.now(), 2 ** 31 - 1)));
      timer.unref();
      timers.add(timer);
    };
    scheduleRenewal(first.c.leaf);

    const publicHandler = createPublicHandler(deps);
    const http = createHttpServer({ maxHeaderSize: 16 * 1024, requestTimeout: 30_000, keepAliveTimeout: 5_000 }, (req, res) => {
      if (publicHandler(req, res)) return;
      const body = JSON.stringify({ error: { code: 'ERR_NOT_FOUND', message: `api: ${req.url} is not served over plain HTTP (the API is on the HTTPS listener)` } });
      res.writeHead(404, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    servers.push(https, http);
    const httpsAddress = await listen(https, options.listen, 'the HTTPS API');
    const httpAddress = await listen(http, options.httpListen, 'plain HTTP');
    logger.info({ https: httpsAddress, http: httpAddress, dir: ca.directory.dir, serverCertificate: first.c.leaf.serial }, 'listening');

    let closing: Promise<void> | undefined;
    return {
      https: httpsAddress,
      http: httpAddress,
      close(graceMs = 10_000) {
        closing ??= (async () => {
          for (const t of timers) clearTimeout(t);
          const closed = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
          for (const s of servers) s.closeIdleConnections();
          const grace = setTimeout(() => servers.forEach((s) => s.closeAllConnections()), graceMs);
          await Promise.all(closed);
          clearTimeout(grace);
          ca.close();
          lock.release();
          logger.info('stopped');
        })();
        return closing;
      },
    };
  } catch (e) {
    for (const t of timers) clearTimeout(t);
    for (const s of servers) s.close();
    ca.close();
    lock.release();
    throw e;
  }
}
