// Prometheus metrics for the service (prom-client on a registry of its own, not the process-global default).

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ApiMetrics } from '../api/ports.js';

/** The service's metrics and the registry that renders them. */
export function createMetrics(caNotAfter: { root: Date; intermediate: Date }): ApiMetrics & { registry: Registry } {
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
  return {
    registry,
    issued: (kind) => issued.inc({ kind }),
    revoked: (count) => revoked.inc(count),
    refused: (code) => refused.inc({ code }),
    observeRequest: (route, method, status, seconds) => latency.observe({ route, method, status: String(status) }, seconds),
  };
}
