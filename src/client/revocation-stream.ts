// Subscribing to a CA's revocation stream: SSE over mTLS, resumed where it left off, each revocation checked against the issuer's signature.

import { EventEmitter } from 'node:events';
import { request } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { keyIdentifier } from '../crypto/keys.js';
import { readPemLabelled } from '../crypto/pem.js';
import { normalizeSerial } from '../crypto/serial.js';
import { CaError } from '../errors.js';
import { readCertificate, type CertificateView } from '../pki/certificate.js';
import { verifyOcspResponse, type VerifiedOcspStatus } from '../revocation/ocsp-verify.js';
import type { RevocationReason } from '../revocation/reasons.js';
import { caServiceIdentity } from './fetch.js';

/** A revocation the issuer signed for: what a subscriber acts on. */
export interface RevocationNotice {
  readonly serial: string;
  /** Hex key id of the intermediate that issued the certificate (and signed the statement, or its OCSP signer). */
  readonly issuerKeyId: string;
  readonly revokedAt: Date;
  readonly reason: RevocationReason;
  /** When the certificate expires: past this, the notice can be forgotten. */
  readonly notAfter: Date;
}

/** Renewal advice as the stream announces it (the authoritative window is the certificate's renewal-info). */
export interface RenewalNotice {
  readonly adviceId: number;
  readonly selector: { readonly kind: string; readonly serial?: string; readonly pattern?: string; readonly before?: string };
  readonly suggestedWindow: { readonly start: string; readonly end: string };
}

export interface RevocationStreamOptions {
  /** The CA's HTTPS API, e.g. `https://ca.internal:8443`. */
  readonly caUrl: string;
  /** PEM of the root(s) the CA service's TLS certificate chains to. */
  readonly caBundle: string;
  /** The subscriber's current certificate (leaf first) and key: read at every (re)connection, so renewals apply. */
  readonly credentials: () => { readonly cert: string; readonly key: string };
  /**
   * The certificates statements are checked against (the trust bundle: root and intermediates). Without it,
   * revocation events are not checked or reported (a renewal daemon listens for renewal advice only).
   */
  readonly trustBundle?: () => string;
  /**
   * Only revocations of serials this accepts are checked and emitted (a renewal daemon cares about its own
   * certificate, not the whole CA's); the CA service's own certificate, the one this stream runs over, always counts.
   */
  readonly concerns?: (serial: string) => boolean;
  /** No byte for this long (three heartbeats) means the connection is dead: it is dropped and made again. */
  readonly silenceMs?: number;
  readonly now?: () => Date;
}

/** A parsed trust bundle, by key id (hex), kept while the bundle text stays the same. */
let parsedBundle: { pem: string; byKeyId: Map<string, CertificateView> } | undefined;
function issuersOf(pem: string): Map<string, CertificateView> {
  if (parsedBundle?.pem !== pem) {
    const byKeyId = new Map<string, CertificateView>();
    for (const der of readPemLabelled(pem, ['CERTIFICATE'], 'trust bundle')) {
      const c = readCertificate(der);
      byKeyId.set(keyIdentifier(c.spki).toString('hex'), c);
    }
    parsedBundle = { pem, byKeyId };
  }
  return parsedBundle.byKeyId;
}

/** Statements already checked, by issuer, serial and bytes (a bounded memo; a stale one is checked again, and fails). */
const verifiedStatements = new Map<string, VerifiedOcspStatus>();

const forged = (why: string): CaError => new CaError('ERR_REVOCATION_EVENT_FORGED', `revocation stream: an event was ignored: ${why}`);

/**
 * Checks a `revoked` event: its `ocsp` statement must be a current OCSP response, signed by the issuer named by
 * `issuerKeyId` (a certificate of the trust bundle) or its delegated responder, saying this serial is revoked. What
 * the notice says comes from the signed statement, never from the event's other fields (except `notAfter`, used
 * only to forget it).
 */
export function verifyRevocationEvent(data: Record<string, unknown>, trustBundlePem: string, now: Date): RevocationNotice {
  const serial = typeof data.serial === 'string' ? normalizeSerial(data.serial) : null;
  if (serial === null) throw forged('it names no serial');
  const issuerKeyId = typeof data.issuerKeyId === 'string' ? data.issuerKeyId.toLowerCase() : '';
  const issuer = issuersOf(trustBundlePem).get(issuerKeyId);
  if (!issuer) throw forged(`serial ${serial}: its issuer (key id ${issuerKeyId.slice(0, 40) || 'none'}) is not in the trust bundle`);
  if (typeof data.ocsp !== 'string') throw forged(`serial ${serial}: it carries no signed statement`);
  // The same statement reaches every subscription of a process (the CA sends one set of bytes to all): checked once.
  const key = `${issuerKeyId}|${serial}|${data.ocsp}`;
  let status = verifiedStatements.get(key);
  if (status === undefined || (status.nextUpdate !== null && status.nextUpdate <= now)) {
    try {
      status = verifyOcspResponse(Buffer.from(data.ocsp, 'base64'), { leaf: { serial }, issuer, nonce: undefined, now });
    } catch (e) {
      throw forged(`serial ${serial}: its statement does not verify (${(e as Error).message.replace(/^ocsp: /, '')})`);
    }
    if (verifiedStatements.size >= 4096) verifiedStatements.delete(verifiedStatements.keys().next().value!);
    verifiedStatements.set(key, status);
  }
  if (status.status !== 'revoked' || status.revokedAt === null) throw forged(`serial ${serial}: its statement says ${status.status}, not revoked`);
  const notAfter = typeof data.notAfter === 'string' && !Number.isNaN(Date.parse(data.notAfter)) ? new Date(data.notAfter) : new Date(now.getTime() + 366 * 86400_000);
  return { serial, issuerKeyId, revokedAt: status.revokedAt, reason: status.reason ?? 'unspecified', notAfter };
}

/**
 * A subscription to `/v1/revocations/stream`, kept open: reconnects with backoff, resumes from the last event id
 * (so nothing is missed across a reconnection), and drops a connection that falls silent. Emits `revoked`
 * (RevocationNotice, signature checked), `renew` (RenewalNotice), `resync` (more was missed than the CA replays:
 * refetch the CRLs), `heartbeat` (with the CA's CRL numbers), `connected`, `disconnected` (with why) and `forged`
 * (a CaError for an event that did not verify; it is ignored).
 *
 * @example
 * const stream = new RevocationStream({ caUrl, caBundle: rootPem, credentials: () => ({ cert, key }), trustBundle: () => bundlePem });
 * stream.on('revoked', (n) => console.log('revoked', n.serial)).start();
 */
export class RevocationStream extends EventEmitter {
  private position: string | undefined;
  private failures = 0;
  private closed = false;
  private live: IncomingMessage | undefined;
  private timer: NodeJS.Timeout | undefined;
  private silence: NodeJS.Timeout | undefined;
  /** The serial of the CA service certificate this stream runs over (its revocation means reconnecting). */
  private serverSerial: string | undefined;
  /** When something last arrived from the CA (ms since the epoch), 0 before the first connection. */
  lastContact = 0;
  connected = false;

  constructor(private readonly o: RevocationStreamOptions) {
    super();
  }

  /** The last event id received (the resume position). */
  get lastEventId(): string | undefined {
    return this.position;
  }

  start(): this {
    this.connect();
    return this;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.silence);
    this.live?.destroy();
    this.connected = false;
  }

  private retry(why: CaError): void {
    const was = this.connected;
    this.connected = false;
    clearTimeout(this.silence);
    if (this.closed) return;
    this.emit('disconnected', why, was);
    this.failures++;
    // Fast at first (a replica restarting), capped at 10 s, with jitter so subscribers do not reconnect in step.
    const ceiling = Math.min(10_000, 250 * 2 ** Math.min(this.failures, 6));
    this.timer = setTimeout(() => this.connect(), Math.round(ceiling * (0.5 + Math.random() / 2)));
    this.timer.unref();
  }

  private connect(): void {
    if (this.closed) return;
    let url: URL;
    try {
      url = new URL('v1/revocations/stream', this.o.caUrl.endsWith('/') ? this.o.caUrl : `${this.o.caUrl}/`);
    } catch {
      return void this.emit('disconnected', new CaError('ERR_USAGE', `revocation stream: "${this.o.caUrl}" is not a URL`), false);
    }
    let credentials;
    try {
      credentials = this.o.credentials();
    } catch (e) {
      return this.retry(e instanceof CaError ? e : new CaError('ERR_FILE_NOT_FOUND', `revocation stream: cannot read the subscriber's credentials: ${(e as Error).message}`));
    }
    let settled = false;
    const fail = (e: CaError): void => {
      if (settled) return;
      settled = true;
      this.live = undefined;
      this.retry(e);
    };
    const req = request(
      url,
      {
        agent: false,
        method: 'GET',
        ca: this.o.caBundle,
        cert: credentials.cert,
        key: credentials.key,
        minVersion: 'TLSv1.2',
        checkServerIdentity: caServiceIdentity,
        headers: { accept: 'text/event-stream', ...(this.position ? { 'last-event-id': this.position } : {}) },
      },
      (res) => {
        this.live = res;
        if (res.statusCode !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.length < 16 && chunks.push(c));
          res.on('end', () => {
            let err: { code?: string; message?: string } | undefined;
            try {
              err = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: { code?: string; message?: string } }).error;
            } catch {
              err = undefined;
            }
            const code = typeof err?.code === 'string' && /^ERR_[A-Z_]+$/.test(err.code) ? err.code : 'ERR_CA_RESPONSE';
            fail(new CaError(code as 'ERR_CA_RESPONSE', err?.message ?? `revocation stream: the CA answered HTTP ${res.statusCode}`));
          });
          res.on('error', () => fail(new CaError('ERR_CA_UNREACHABLE', 'revocation stream: the connection broke')));
          return;
        }
        this.connected = true;
        this.failures = 0;
        const served = (res.socket as TLSSocket).getPeerX509Certificate?.()?.serialNumber;
        this.serverSerial = served === undefined ? undefined : (normalizeSerial(served) ?? undefined);
        this.contact();
        this.emit('connected');
        res.setEncoding('utf8');
        let buffer = '';
        res.on('data', (chunk: string) => {
          this.contact();
          buffer += chunk;
          if (buffer.length > 1024 * 1024) return res.destroy();
          for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            this.dispatch(block);
          }
        });
        res.on('end', () => fail(new CaError('ERR_CA_UNREACHABLE', 'revocation stream: the CA ended the stream')));
        res.on('error', () => fail(new CaError('ERR_CA_UNREACHABLE', 'revocation stream: the connection broke')));
        res.on('close', () => fail(new CaError('ERR_CA_UNREACHABLE', 'revocation stream: the connection closed')));
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => {
      const code = e.code ?? '';
      fail(
        code === 'ERR_MESHCA_NOT_CA_SERVICE' || /CERT|SELF_SIGNED|UNABLE_TO|ALTNAME/.test(code)
          ? new CaError('ERR_TLS_TRUST', `revocation stream: ${url.host} is not the CA service this root trusts (${code})`)
          : new CaError('ERR_CA_UNREACHABLE', `revocation stream: cannot reach ${url.host} (${code || e.message})`),
      );
    });
    req.setTimeout(this.o.silenceMs ?? 15_000, () => req.destroy(Object.assign(new Error('no answer'), { code: 'ETIMEDOUT' })));
    req.end();
  }

  /** Something arrived: the connection is alive; it is dropped if nothing more comes for `silenceMs`. */
  private contact(): void {
    this.lastContact = Date.now();
    clearTimeout(this.silence);
    this.silence = setTimeout(() => this.live?.destroy(), this.o.silenceMs ?? 15_000);
    this.silence.unref();
  }

  private dispatch(block: string): void {
    let id: string | undefined;
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length === 0) return;
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(data.join('\n')) as Record<string, unknown>;
    } catch {
      return void this.emit('forged', forged('its data is not JSON'));
    }
    if (event === 'revoked') {
      const serial = typeof parsed.serial === 'string' ? normalizeSerial(parsed.serial) : null;
      const concerns = serial === null || serial === this.serverSerial || (this.o.concerns?.(serial) ?? true);
      if (this.o.trustBundle && concerns) {
        try {
          const notice = verifyRevocationEvent(parsed, this.o.trustBundle(), this.o.now?.() ?? new Date());
          this.emit('revoked', notice);
          // The CA service's own certificate, revoked: this connection is no longer to be trusted; a new one is.
          if (notice.serial === this.serverSerial) setImmediate(() => this.live?.destroy());
        } catch (e) {
          this.emit('forged', e);
        }
      }
    } else if (event === 'renew') this.emit('renew', parsed as unknown as RenewalNotice);
    else if (event === 'resync') this.emit('resync');
    else if (event === 'heartbeat') this.emit('heartbeat', parsed);
    // The position moves only once the event was handled: a crash before that replays it.
    if (id !== undefined && /^\d+\.\d+$/.test(id)) this.position = id;
  }
}
