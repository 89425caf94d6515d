// Turns the figures `make soak` collected (JSON lines) into RELIABILITY.md, printed on stdout.

import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

const lines = readFileSync(process.argv[2], 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const last = (test) => lines.filter((l) => l.test === test).at(-1);
const crash = last('crash');
const replicaKills = last('replica-kills');
const outage = last('database-outage');
const fuzz = last('fuzz');
const matrix = last('authorization');
const typed = last('typed-scopes');
const weak = last('weak-keys');
const refusals = last('refusal-audit');
const conc = last('concurrency');
const soak = last('soak');
const out = [];
out.push('# Reliability figures', '');
out.push(`Made by \`make soak\` on ${soak?.at ?? crash?.at ?? new Date().toISOString()}: ${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), Node ${process.version}. The quick versions of the same tests run in \`make test\`; see README "Reliability".`, '');
if (crash) {
  out.push('## Crash safety (SIGKILL under load)', '');
  out.push('| kills | issuances acknowledged | found after restarts | revocations acknowledged (all in CRL and DB; OCSP sampled) | requests cut off by kills (unacknowledged) | slowest restart to /healthz | last CRL number |', '|---|---|---|---|---|---|---|');
  out.push(`| ${crash.kills} | ${crash.acknowledgedIssuances} | ${crash.foundAfterRestarts} | ${crash.acknowledgedRevocations} | ${crash.requestsLostToKills} | ${crash.slowestRestartMs} ms | ${crash.lastCrlNumber} |`, '');
}
if (replicaKills) {
  out.push('## Replicas on PostgreSQL (SIGKILL under load)', '');
  out.push('| replicas | kills | issuances acknowledged (all found, with their identities) | revocations acknowledged (all found) | requests cut off by kills | audit rows (one chain, verified) | last CRL number per replica |', '|---|---|---|---|---|---|---|');
  out.push(`| ${replicaKills.replicas} | ${replicaKills.kills} | ${replicaKills.acknowledgedIssuances} | ${replicaKills.acknowledgedRevocations} | ${replicaKills.requestsLostToKills} | ${replicaKills.auditRows} | ${replicaKills.lastCrlNumbers.join(', ')} |`, '');
}
if (outage) out.push('## A PostgreSQL outage under load', '', `PostgreSQL stopped for about 1.5 s and then restarted (\`pg_ctl restart\`) under 16 clients: ${outage.unavailableAnswers} requests answered 503 ERR_DATABASE_UNAVAILABLE while it was down (no other error), ${outage.acknowledged} issuances acknowledged and all found afterwards; the first signature after each outage came ${outage.recoveryMs.join(' ms and ')} ms after the database was back.`, '');
if (conc) out.push('## Concurrent writers', '', `${conc.cliProcesses} parallel \`ca issue\` processes and ${conc.apiIssued} API issuances on one directory: ${conc.stored} leaves stored (the service's own TLS certificate is the one more), no duplicate serial.`, '');
if (matrix) out.push('## Authorization matrix', '', `${matrix.cells} cells (${matrix.credentials} kinds of credential × ${matrix.endpoints} endpoints), ${matrix.wrong} wrong; run on SQLite and on PostgreSQL.`, '');
if (typed) out.push('## Typed scopes and reserved identities', '', `${typed.cells} sign requests (${typed.keys} API keys with SPIFFE, DNS and IP scopes, typed and untyped × ${typed.identities} requested identities, lookalikes and reserved IDs among them), ${typed.wrong} wrong: a certificate only where the scope's type matched, none for a reserved ID.`, '');
if (weak) {
  out.push('## Weak keys', '', 'Each key was sent as a CSR to `POST /v1/sign`, to `POST /v1/renew` as the new key, and to `ca issue --csr`; what each answered:', '');
  out.push('| key | sign | renew with a new key | ca issue --csr | reason given |', '|---|---|---|---|---|');
  for (const c of weak.cases) out.push(`| ${c.key} | ${c.sign} | ${c.rekey} | ${c.cli} | ${c.reason.replace(/^pki: |^crypto: /, '').replace(/\|/g, '\\|')} |`);
  out.push('');
}
if (refusals) out.push('## Refused authentication in the audit log', '', `${refusals.refused} refused requests (ten kinds of bad credential, a rate-limit burst, and a flood of made-up API keys) made ${refusals.rows} audit rows, at most ${refusals.maxRowsPerSecond} in any second.`, '');
if (fuzz) {
  out.push('## Fuzzing (fast-check)', '', '| parser | cases |', '|---|---|');
  for (const [parser, n] of Object.entries(fuzz.casesPerParser)) out.push(`| ${parser} | ${n} |`);
  out.push('', 'Every case got a 4xx JSON error (or, in the CLI, a one-line error with exit 1); no 5xx, hang or crash; the stored certificates were unchanged and the service logged no error. The OCSP responder is fuzzed separately in test/interop/revocation.test.ts.', '');
}
if (soak) {
  out.push(`## Soak: ${soak.seconds} s at a fixed rate (${soak.warmupSeconds} s warm-up not counted)`, '');
  out.push('| kind | target rate /s | measured /s | sent | ok | 4xx | 5xx | timeouts | p50 ms | p99 ms |', '|---|---|---|---|---|---|---|---|---|---|');
  for (const [kind, k] of Object.entries(soak.kinds)) out.push(`| ${kind} | ${soak.rates[kind]} | ${k.rate} | ${k.sent} | ${k.ok} | ${k['4xx']} | ${k['5xx']} | ${k.timeouts} | ${k.p50} | ${k.p99} |`);
  out.push('', `Anonymous resident memory of the service (heap and other private memory, where a leak would show; mean of the first and of the last minute after warm-up): ${soak.rssMb.afterWarmup} MB, then ${soak.rssMb.end} MB (peak ${soak.rssMb.peak} MB). Total RSS went from ${soak.rssMb.totalAfterWarmup} to ${soak.rssMb.totalEnd} MB: the difference is the database's memory-mapped pages (ca.db grew to ${soak.dbMb} MB; the first 128 MiB are mapped).`, '');
}
console.log(out.join('\n'));
