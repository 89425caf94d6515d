// `ca serve`: run the CA service on a directory until SIGTERM or SIGINT.

import { parseDuration } from '../../config/duration.js';
import { parseListenAddress, startService } from '../../server/serve.js';
import { CaError } from '../../errors.js';
import { parseDnsName, parseIpAddress } from '../../identity/names.js';
import type { CommandOutput } from '../output.js';

export interface ServeArgs {
  dir: string;
  listen: string;
  httpListen: string;
  rateLimit: string;
  signingWorkers?: string;
  handshakeTimeout: string;
  headerTimeout: string;
  requestTimeout: string;
  keepAliveTimeout: string;
  maxConnections: string;
  ocspSignLimit: string;
  auditHeadInterval: string;
  passphrase: string | undefined;
  rootPassphrase?: string | undefined;
  serviceDns?: string[];
  serviceIp?: string[];
}

function wholeNumber(text: string, flag: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min || n > max) throw new CaError('ERR_USAGE', `cli: ${flag} must be a whole number from ${min} to ${max}`);
  return n;
}

function milliseconds(text: string, flag: string): number {
  const seconds = parseDuration(text);
  if (seconds < 1 || seconds > 3600) throw new CaError('ERR_USAGE', `cli: ${flag} must be from 1s to 1h`);
  return seconds * 1000;
}

export async function serve(args: ServeArgs): Promise<CommandOutput> {
  const rateLimitPerSecond = Number(args.rateLimit);
  if (!Number.isSafeInteger(rateLimitPerSecond) || rateLimitPerSecond < 1) throw new CaError('ERR_USAGE', `cli: --rate-limit must be a positive whole number of requests per second`);
  const signingWorkers = args.signingWorkers === undefined ? undefined : Number(args.signingWorkers);
  if (signingWorkers !== undefined && (!Number.isSafeInteger(signingWorkers) || signingWorkers < 0 || signingWorkers > 64)) {
    throw new CaError('ERR_USAGE', 'cli: --signing-workers must be a whole number from 0 to 64');
  }
  const headersTimeoutMs = milliseconds(args.headerTimeout, '--header-timeout');
  const requestTimeoutMs = milliseconds(args.requestTimeout, '--request-timeout');
  if (headersTimeoutMs > requestTimeoutMs) throw new CaError('ERR_USAGE', 'cli: --header-timeout cannot be longer than --request-timeout');
  const service = await startService({
    dir: args.dir,
    listen: parseListenAddress(args.listen, '--listen'),
    httpListen: parseListenAddress(args.httpListen, '--http-listen'),
    passphrase: args.passphrase,
    rootPassphrase: args.rootPassphrase,
    serviceNames: { dnsNames: (args.serviceDns ?? []).map((n) => parseDnsName(n)), ipAddresses: (args.serviceIp ?? []).map((ip) => parseIpAddress(ip).text) },
    rateLimitPerSecond,
    ...(signingWorkers === undefined ? {} : { signingWorkers }),
    limits: {
      handshakeTimeoutMs: milliseconds(args.handshakeTimeout, '--handshake-timeout'),
      headersTimeoutMs,
      requestTimeoutMs,
      keepAliveTimeoutMs: milliseconds(args.keepAliveTimeout, '--keep-alive-timeout'),
      maxConnections: wholeNumber(args.maxConnections, '--max-connections', 1, 1_000_000),
    },
    ocspSignPerClientPerSecond: wholeNumber(args.ocspSignLimit, '--ocsp-sign-limit', 0, 1_000_000),
    auditHeadIntervalMs: milliseconds(args.auditHeadInterval, '--audit-head-interval'),
  });
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  await service.close();
  return { data: { stopped: signal }, human: '' };
}
