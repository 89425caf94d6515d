// /v1/revocations/stream: the revocation feed as Server-Sent Events to subscribers that authenticate with their own certificate.

import type { Router } from 'express';
import { formatPosition, parsePosition, type FeedEvent, type FeedPosition, type RevocationFeed } from '../../authority/revocation-feed.js';
import { CaError } from '../../errors.js';
import type { ApiDeps } from '../ports.js';
import { queryString } from '../query.js';
import { guarded } from './guard.js';

/** Unsent bytes past which the stream waits for the socket to drain before writing more. */
const HIGH_WATER = 64 * 1024;
/** A subscriber is let go when this much is queued for it, or when it has read nothing for this long meanwhile. */
const MAX_QUEUED_BYTES = 16 * 1024 * 1024;
const MAX_STALL_MS = 30_000;
/** Subscriptions one key may hold at once (a service and a restart overlapping, a daemon beside it). */
export const SUBSCRIPTIONS_PER_CERTIFICATE = 4;

/** The JSON an event carries (its `data:` line). */
function eventData(e: FeedEvent): Record<string, unknown> {
  switch (e.kind) {
    case 'revoked': {
      const r = e.revocation;
      // `ocsp` is the issuer's signed statement (RFC 6960, base64 DER): the subscriber acts on it, not on the rest.
      return { serial: r.serial, issuerKeyId: r.issuerKeyId, revokedAt: r.revokedAt.toISOString(), reason: r.reason, notAfter: r.notAfter.toISOString(), ...(e.statement ? { ocsp: e.statement.toString('base64') } : {}) };
    }
    case 'renew': {
      const a = e.advice;
      return { adviceId: a.id, selector: a.selector, suggestedWindow: { start: a.windowStart.toISOString(), end: a.windowEnd.toISOString() }, ...(a.explanationUrl ? { explanationURL: a.explanationUrl } : {}) };
    }
    case 'resync':
      return { message: 'more revocations were missed than the stream replays: refetch the CRLs' };
    case 'heartbeat':
      return { ...e.status };
  }
}

/** A heartbeat's `data` is the same for every subscriber of one beat (only the id differs): encoded once per beat. */
const heartbeatData = new WeakMap<object, string>();

/** One SSE frame (`id`, `event`, `data`): JSON has no raw newline, so `data` is one line. */
export function sseFrame(e: FeedEvent): string {
  let data: string | undefined;
  if (e.kind === 'heartbeat') {
    data = heartbeatData.get(e.status);
    if (data === undefined) heartbeatData.set(e.status, (data = JSON.stringify(eventData(e))));
  }
  return `id: ${formatPosition(e.position)}\nevent: ${e.kind}\ndata: ${data ?? JSON.stringify(eventData(e))}\n\n`;
}

/**
 * Server-Sent Events over the HTTPS API, rather than a raw chunked stream: the format is standard (`text/event-stream`),
 * readable with curl, carries the resume position in each event's `id` and back in `Last-Event-ID`, and needs no
 * framing of our own. Only a current, unrevoked leaf of this CA subscribes (mTLS); its stream ends when that
 * certificate is revoked or expires, so a subscriber reconnects with its renewed one.
 */
export function revocationStreamRoutes(router: Router, deps: ApiDeps, feed: RevocationFeed, limits: { maxSubscriptions: number }): void {
  // Counted per key, so renewals with the same key share one allowance; a renewed certificate may not subscribe, and
  // its successor's subscription closes its streams: a chain of renewals does not add up to more subscriptions.
  const perKey = new Map<string, number>();
  const streamsOf = new Map<string, Set<() => void>>();
  // Frames of live events are the same bytes for every subscriber: encoded once.
  const frames = new WeakMap<FeedEvent, string>();
  const frameOf = (e: FeedEvent): string => {
    let f = frames.get(e);
    if (f === undefined) frames.set(e, (f = sseFrame(e)));
    return f;
  };
  router.get(
    '/v1/revocations/stream',
    guarded(deps, null, 'certificate', async (caller, req, res) => {
      if (caller.kind !== 'certificate') throw new CaError('ERR_UNAUTHENTICATED', 'api: subscribe with your current certificate (mTLS)');
      const own = caller.certificate;
      // Last-Event-ID first: a client that opened with ?after= resumes from what it has since received, not from there.
      const header = req.headers['last-event-id'];
      const text = (typeof header === 'string' && header.trim() !== '' ? header : undefined) ?? queryString(req.query.after, 'after');
      let from: FeedPosition | undefined;
      if (text !== undefined && text.trim() !== '') {
        from = parsePosition(text);
        if (from === undefined) throw new CaError('ERR_QUERY_INVALID', `api: "${text.slice(0, 40)}" is not a stream position (an event id: <revocation seq>.<advice id>)`);
      }
      // One certificate cannot hold the listener's connections (or the memory) the whole fleet needs; and streams
      // never take the last connections the API's requests need (see ServeOptions.limits.maxConnections).
      const successors = (await deps.authority.renewedTo([own])).get(own.serial) ?? [];
      if (successors.length > 0) throw new CaError('ERR_CERTIFICATE_SUPERSEDED', `api: certificate ${own.serial} was renewed (as ${successors.at(-1)}): subscribe with the newest certificate`);
      for (const close of [...(own.renewedFrom === null ? [] : (streamsOf.get(own.renewedFrom) ?? []))]) close();
      if ((perKey.get(own.subjectKeyHash) ?? 0) >= SUBSCRIPTIONS_PER_CERTIFICATE) {
        throw new CaError('ERR_RATE_LIMITED', `api: the key of certificate ${own.serial} already holds ${SUBSCRIPTIONS_PER_CERTIFICATE} revocation-stream subscriptions; close one first`);
      }
      if (feed.size >= limits.maxSubscriptions) {
        throw new CaError('ERR_STREAM_FULL', `api: this replica holds ${limits.maxSubscriptions} revocation-stream subscriptions, its share of --max-connections; retry later, another replica, or raise --max-connections`);
      }
      perKey.set(own.subjectKeyHash, (perKey.get(own.subjectKeyHash) ?? 0) + 1);
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
      res.write('retry: 1000\n\n');
      req.socket.setNoDelay(true);
      // Frames wait here while the socket has more than HIGH_WATER unsent: a burst (a mass revocation) is written as
      // fast as the subscriber reads, never dropped for arriving at once.
      const queue: string[] = [];
      let head = 0;
      let queued = 0;
      let lastProgress = Date.now();
      const waiters: (() => void)[] = [];
      const flush = (): void => {
        lastProgress = Date.now();
        while (head < queue.length && res.writableLength < HIGH_WATER) {
          const frame = queue[head]!;
          queue[head++] = '';
          queued -= frame.length;
          res.write(frame);
        }
        if (head === queue.length) {
          queue.length = 0;
          head = 0;
          if (res.writableLength < HIGH_WATER) for (const w of waiters.splice(0)) w();
        }
      };
      res.on('drain', flush);
      let ended = false;
      const end = (): void => {
        if (ended) return;
        ended = true;
        clearTimeout(expiry);
        unsubscribe();
        const left = (perKey.get(own.subjectKeyHash) ?? 1) - 1;
        if (left > 0) perKey.set(own.subjectKeyHash, left);
        else perKey.delete(own.subjectKeyHash);
        const mine = streamsOf.get(own.serial);
        mine?.delete(end);
        if (mine?.size === 0) streamsOf.delete(own.serial);
        for (const w of waiters.splice(0)) w();
        res.end();
      };
      const unsubscribe = feed.subscribe(
        {
          send(event) {
            if (ended) return false;
            const frame = event.kind === 'heartbeat' ? sseFrame(event) : frameOf(event);
            if (head === queue.length && res.writableLength < HIGH_WATER) res.write(frame);
            else {
              if (head === queue.length) lastProgress = Date.now();
              queue.push(frame);
              queued += frame.length;
              if (queued > MAX_QUEUED_BYTES || Date.now() - lastProgress > MAX_STALL_MS) return false;
            }
            // Its own certificate revoked: told, then let go (it cannot resubscribe with it).
            if (event.kind === 'revoked' && event.revocation.serial === own.serial) setImmediate(end);
            return true;
          },
          drained: () => (ended || (head === queue.length && res.writableLength < HIGH_WATER) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve))),
          close: end,
        },
        from,
      );
      if (!streamsOf.has(own.serial)) streamsOf.set(own.serial, new Set());
      streamsOf.get(own.serial)!.add(end);
      const expiry = setTimeout(end, Math.max(0, Math.min(own.notAfter.getTime() - Date.now(), 2 ** 31 - 1)));
      expiry.unref();
      res.on('close', end);
    }),
  );
}
