// Prometheus metrics for the service (prom-client on a registry of its own, not the process-global default).

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ApiMetrics } from '../api/ports.js';
import { MinuteCounts } from './minute-counts.js';

/** The service's metrics and the registry that renders them. */
/** What the service sets beside the API's own metrics. */
export interface ServiceMetrics extends ApiMetrics {
  readonly registry: Registry;
  /** The CA certificates' notAfter (after a rotation too). */
  caNotAfter(notAfter: { root: Date; intermediate: Date }): void;
  /** 1 while the intermediate is due for rotation and the service cannot do it (no root key), else 0. */
  rotationNeeded(needed: boolean): void;
  /** 1 while the store answers, 0 while it does not (a PostgreSQL outage). */
  databaseUp(up: boolean): void;
  /** 1 while the store holds an intermediate whose key is not in this directory's private/ (a rotation made elsewhere). */
  keyMissing(missing: boolean): void;
  /** Reports, when /metrics is rendered, how many subscribers the revocation stream holds. */
  countSubscribers(count: () => number): void;
}

export function createMetrics(caNotAfter: { root: Date; intermediate: Date }, expiring?: (withinSeconds: number) => Promise<number>): ServiceMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'meshca_' });
  const issued = new Counter({ name: 'meshca_certificates_issued_total', help: 'Certificates issued, by kind (issue, renew)', labelNames: ['kind'], registers: [registry] });
  const revoked = new Counter({ name: 'meshca_revocations_total', help: 'Certificates revoked (through the API or ca revoke on the directory)', registers: [registry] });
  const refused = new Counter({ name: 'meshca_refusals_total', help: 'Requests refused, by error code', labelNames: ['code'], registers: [registry] });
  const latency = new Histogram({
    name: 'meshca_http_request_duration_seconds',
    help: 'API request latency',
    labelNames: ['route', 'method', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const notAfter = new Gauge({ name: 'meshca_ca_certificate_not_after_seconds', help: 'notAfter of the CA certificates (unix seconds)', labelNames: ['level'], registers: [registry] });
  notAfter.set({ level: 'root' }, caNotAfter.root.getTime() / 1000);
  notAfter.set({ level: 'intermediate' }, caNotAfter.intermediate.getTime() / 1000);
  for (const kind of ['issue', 'renew']) issued.inc({ kind }, 0);
  const rotation = new Gauge({ name: 'meshca_intermediate_rotation_needed', help: '1 when the intermediate expires within 30 days and the service cannot rotate it (the root key is offline): run ca intermediate rotate', registers: [registry] });
  rotation.set(0);
  const databaseUp = new Gauge({ name: 'meshca_database_up', help: '1 while the CA database answers; 0 during an outage (sign, renew and revoke answer 503, OCSP and CRLs are served from what was signed)', registers: [registry] });
  databaseUp.set(1);
  const keyMissing = new Gauge({ name: 'meshca_intermediate_key_missing', help: '1 while the database holds an intermediate whose key is not in this replica\'s private/ folder: copy it from the machine that rotated', registers: [registry] });
  keyMissing.set(0);
  if (expiring) {
    // Read when /metrics is rendered (at most once a second): a count on the notAfter index.
    new Gauge({
      name: 'meshca_leaves_expiring',
      help: 'Valid leaves whose notAfter falls within the window (24h, 7d): what will fail if renewal stops',
      labelNames: ['within'],
      registers: [registry],
      async collect() {
        // During a database outage the gauge keeps its last values.
        const [day, week] = await Promise.all([expiring(86400), expiring(7 * 86400)]).catch(() => [undefined, undefined]);
        if (day !== undefined && week !== undefined) {
          this.set({ within: '24h' }, day);
          this.set({ within: '7d' }, week);
        }
      },
    });
  }
  const recent = { issued: new MinuteCounts(), revoked: new MinuteCounts(), refused: new MinuteCounts() };
  return {
    registry,
    caNotAfter: (n) => {
      notAfter.set({ level: 'root' }, n.root.getTime() / 1000);
      notAfter.set({ level: 'intermediate' }, n.intermediate.getTime() / 1000);
    },
    rotationNeeded: (needed) => rotation.set(needed ? 1 : 0),
    databaseUp: (up) => databaseUp.set(up ? 1 : 0),
    keyMissing: (missing) => keyMissing.set(missing ? 1 : 0),
    countSubscribers: (count) => {
      new Gauge({ name: 'meshca_revocation_stream_subscribers', help: 'Subscribers connected to /v1/revocations/stream on this replica', registers: [registry], collect() { this.set(count()); } });
    },
    issued: (kind) => {
      issued.inc({ kind });
      recent.issued.add();
    },
    revoked: (count) => {
      revoked.inc(count);
      recent.revoked.add(count);
    },
    refused: (code) => {
      refused.inc({ code });
      recent.refused.add();
    },
    lastHour: () => ({ issued: recent.issued.lastHour(), revoked: recent.revoked.lastHour(), refused: recent.refused.lastHour() }),
    observeRequest: (route, method, status, seconds) => latency.observe({ route, method, status: String(status) }, seconds),
  };
}
