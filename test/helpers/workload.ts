// Concurrent API clients that issue, renew and revoke against a running CA and remember every acknowledgement.

import { request } from 'node:https';
import { generateKeyPair, privateKeyToPem } from '../../src/crypto/keys.js';
import { toPem } from '../../src/crypto/pem.js';
import { createCsr } from '../../src/pki/csr.js';

export interface Acknowledged {
  serial: string;
  spiffeId: string;
  cert: string;
  key: string;
  client: number;
}

export interface Reply {
  status: number;
  body: string;
}

/** One HTTPS call with a timeout; connection failures reject (the service may be down on purpose). */
export function call(url: string, o: { method?: string; headers?: Record<string, string>; body?: string; ca: string; cert?: string; key?: string; timeoutMs?: number }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: o.method ?? 'GET', headers: o.headers, ca: o.ca, cert: o.cert, key: o.key, agent: false, timeout: o.timeoutMs ?? 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(o.body);
  });
}

/** Per kind of request: how many were acknowledged, refused (4xx), failed (5xx), lost (no answer), and latencies. */
export interface KindStats {
  ok: number;
  /** 503 ERR_DATABASE_UNAVAILABLE, counted apart when the target says a database outage is expected. */
  unavailable: number;
  refused: number;
  failed: number;
  lost: number;
  timeouts: number;
  latencies: number[];
}

/**
 * `clients` loops, each issuing (60%), renewing one of its own certificates over mTLS (20%) or revoking one (20%).
 * Connection errors are expected while the service is down and retried; any 4xx or 5xx answer is recorded.
 */
export class Workload {
  readonly issued = new Map<string, Acknowledged>();
  readonly revoked = new Set<string>();
  /** Serials acknowledged more than once (must stay empty). */
  readonly repeated: string[] = [];
  readonly unexpected: string[] = [];
  readonly stats: Record<'sign' | 'renew' | 'revoke', KindStats> = {
    sign: { ok: 0, unavailable: 0, refused: 0, failed: 0, lost: 0, timeouts: 0, latencies: [] },
    renew: { ok: 0, unavailable: 0, refused: 0, failed: 0, lost: 0, timeouts: 0, latencies: [] },
    revoke: { ok: 0, unavailable: 0, refused: 0, failed: 0, lost: 0, timeouts: 0, latencies: [] },
  };
  private running = false;
  private loops: Promise<void>[] = [];
  private counter = 0;

  constructor(
    private readonly target: { url: () => string; ca: string; apiKey: string; trustDomain: string; databaseOutage?: boolean },
    private readonly clients = 16,
  ) {}

  start(): void {
    this.running = true;
    this.loops = Array.from({ length: this.clients }, (_, i) => this.loop(i));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private remember(kind: keyof Workload['stats'], started: number, r: Reply, what: string): boolean {
    const s = this.stats[kind];
    s.latencies.push(performance.now() - started);
    if (r.status < 300) {
      s.ok++;
      return true;
    }
    if (this.target.databaseOutage && r.status === 503 && r.body.includes('"ERR_DATABASE_UNAVAILABLE"')) {
      s.unavailable++;
      return false;
    }
    if (r.status >= 500) s.failed++;
    else s.refused++;
    this.unexpected.push(`${what}: ${r.status} ${r.body.slice(0, 200)}`);
    return false;
  }

  private record(client: number, reply: Reply, key: string): void {
    const body = JSON.parse(reply.body) as { serial: string; spiffeId: string; certificate: string };
    if (this.issued.has(body.serial)) this.repeated.push(body.serial);
    this.issued.set(body.serial, { serial: body.serial, spiffeId: body.spiffeId, cert: body.certificate, key, client });
  }

  private async loop(client: number): Promise<void> {
    const mine: Acknowledged[] = [];
    const { ca, apiKey, trustDomain } = this.target;
    const bearer = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
    while (this.running) {
      const dice = Math.random();
      const kind = mine.length === 0 || dice < 0.6 ? 'sign' : dice < 0.8 ? 'renew' : 'revoke';
      const started = performance.now();
      const unavailableBefore = this.stats[kind].unavailable;
      try {
        if (kind === 'sign') {
          const n = this.counter++;
          const key = generateKeyPair('ec-p256').privateKey;
          const body = JSON.stringify({ csr: toPem('CERTIFICATE REQUEST', createCsr(key, `c${client}`)), name: `c${client}-${n}`, spiffeId: `spiffe://${trustDomain}/c${client}/${n}` });
          const r = await call(`${this.target.url()}/v1/sign`, { method: 'POST', headers: bearer, body, ca });
          if (this.remember('sign', started, r, 'sign')) {
            const keyPem = privateKeyToPem(key);
            this.record(client, r, keyPem);
            mine.push(this.issued.get(JSON.parse(r.body).serial as string)!);
          }
        } else {
          const victim = mine.splice(Math.floor(Math.random() * mine.length), 1)[0]!;
          if (kind === 'renew') {
            const r = await call(`${this.target.url()}/v1/renew`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', ca, cert: victim.cert, key: victim.key });
            if (this.remember('renew', started, r, `renew ${victim.serial}`)) {
              this.record(client, r, victim.key);
              mine.push(this.issued.get(JSON.parse(r.body).serial as string)!);
            } else mine.push(victim);
          } else {
            const r = await call(`${this.target.url()}/v1/certificates/${victim.serial}/revoke`, { method: 'POST', headers: bearer, body: '{"reason":"superseded"}', ca });
            if (this.remember('revoke', started, r, `revoke ${victim.serial}`)) this.revoked.add(victim.serial);
          }
        }
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code === 'ETIMEDOUT') this.stats[kind].timeouts++;
        else this.stats[kind].lost++;
        await new Promise((r) => setTimeout(r, 50));
      }
      // During a database outage, no tighter loop than the service's own answers.
      if (this.stats[kind].unavailable > unavailableBefore) await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** The p-th percentile (0-100) of `values`. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
