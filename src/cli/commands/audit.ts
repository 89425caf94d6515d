// `ca audit` and `ca audit verify`: the audit log, oldest first, and the check of its sealed chain (and of a signed head recorded earlier).

import { existsSync } from 'node:fs';
import { verifyAuditHead } from '../../audit/audit-key.js';
import { CaError } from '../../errors.js';
import { readInputFile } from '../io.js';
import { table, type CommandOutput } from '../output.js';
import { withLocalCa } from './shared.js';
import { connect, type RemoteArgs } from './remote.js';

type AuditRow = { id: number; at: string; actor: string; action: string; target: string | null; outcome: string; detail: Record<string, unknown> | null };

/** Which rows to show: at most `limit` after row `after` (a page; the log can hold millions). */
export interface AuditPage {
  limit?: number;
  after?: number;
}

const DEFAULT_LIMIT = 1000;

export function audit(args: { dir: string } & AuditPage): Promise<CommandOutput> {
  const limit = args.limit ?? DEFAULT_LIMIT;
  return withLocalCa(args.dir, async (ca) => {
    const rows = await ca.store.auditLog({ limit: limit + 1, after: args.after ?? 0 });
    const shown = rows.slice(0, limit);
    return render(shown.map((r) => ({ id: r.id, at: r.at.toISOString(), actor: r.actor, action: r.action, target: r.target, outcome: r.outcome, detail: (r.detail as Record<string, unknown> | undefined) ?? null })), rows.length > limit ? shown.at(-1)!.id : null);
  });
}

/** `ca audit --ca-url`: the log from a running CA, for an API key with the audit scope (its read is audited too). */
export async function auditRemote(args: RemoteArgs & AuditPage & { apiKey?: string }): Promise<CommandOutput> {
  if (args.apiKey === undefined) throw new CaError('ERR_USAGE', 'cli: with --ca-url, give an API key with the audit scope: --api-key-file F or $MESHCA_API_KEY');
  const query = new URLSearchParams({ limit: String(args.limit ?? DEFAULT_LIMIT), ...(args.after === undefined ? {} : { after: String(args.after) }) });
  const r = await connect(args).call<{ events: AuditRow[]; next?: number | null }>('GET', `/v1/audit?${query}`, { bearer: args.apiKey });
  return render(r.events.map((e) => ({ id: e.id, at: e.at, actor: e.actor, action: e.action, target: e.target ?? null, outcome: e.outcome, detail: e.detail ?? null })), r.next ?? null);
}

/**
 * The audit table: long actors (a certificate's SPIFFE ID and serial) shortened, refusals with their code and count;
 * --json has everything. When rows follow (`next`), a note says how to see them.
 */
function render(data: AuditRow[], next: number | null): CommandOutput {
  const short = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);
  const outcome = (d: (typeof data)[number]) => {
    const detail = d.detail as { code?: unknown; count?: unknown } | null;
    if (d.outcome !== 'refused' || typeof detail?.code !== 'string') return d.outcome;
    return `refused ${detail.code}${typeof detail.count === 'number' && detail.count > 1 ? ` ×${detail.count}` : ''}`;
  };
  const human = table(
    ['ID', 'AT', 'ACTOR', 'ACTION', 'TARGET', 'OUTCOME'],
    data.map((d) => [String(d.id), d.at, short(d.actor, 44), d.action, d.target ?? '-', outcome(d)]),
  );
  return { data, human, notes: next === null ? [] : [`more rows follow row ${next}: ca audit --after ${next}`] };
}

const JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** The signed head given on the command line, or read from the file it names. */
function headText(given: string): string {
  if (JWS.test(given.trim())) return given.trim();
  if (!existsSync(given)) throw new CaError('ERR_USAGE', 'cli: --head takes a signed head (a JWS from the "audit head" log line or /v1/audit/head) or a file holding one');
  const text = readInputFile(given, 'signed head').toString('utf8').trim();
  const jws = text.startsWith('{') ? (JSON.parse(text) as { jws?: unknown }).jws : text;
  if (typeof jws !== 'string' || !JWS.test(jws.trim())) throw new CaError('ERR_USAGE', `cli: ${given} holds no signed head`);
  return jws.trim();
}

/**
 * Walks the audit log's sealed chain; an edited, missing or reordered row fails with `ERR_AUDIT_TAMPERED`. With
 * `head`, the log must also still hold the row that head was signed for, with the same seal: a log cut back
 * (or rebuilt) since that head was recorded fails too.
 */
export async function auditVerify(args: { dir: string; head?: string }): Promise<CommandOutput> {
  const jws = args.head === undefined ? undefined : headText(args.head);
  return withLocalCa(args.dir, async (ca) => {
    const verdict = await ca.store.verifyAuditChain();
    if (!verdict.ok) {
      throw new CaError('ERR_AUDIT_TAMPERED', `audit: ${verdict.message} (checked ${verdict.rows} rows)`, { detail: { rowId: verdict.rowId, problem: verdict.problem } });
    }
    let checked = '';
    let head: { id: number; at: string } | undefined;
    if (jws !== undefined) {
      const signed = await verifyAuditHead(ca.auditKey, jws);
      if (signed.trustDomain !== ca.directory.config.trustDomain) throw new CaError('ERR_AUDIT_HEAD_INVALID', `audit: the signed head is for trust domain ${signed.trustDomain}, not ${ca.directory.config.trustDomain}`);
      const seal = await ca.store.auditSealOf(signed.id);
      if (seal !== signed.seal) {
        throw new CaError('ERR_AUDIT_TAMPERED', `audit: the log no longer holds row ${signed.id} as it was signed at ${signed.at.toISOString()}: it was ${seal === undefined ? 'cut back' : 'rewritten'} since (the log now ends at row ${verdict.lastId})`, { detail: { rowId: signed.id, problem: 'truncated' } });
      }
      head = { id: signed.id, at: signed.at.toISOString() };
      checked = `\nsigned head of ${head.at} (row ${signed.id}) is in the log`;
    }
    return {
      data: { ok: true, rows: verdict.rows, lastId: verdict.lastId, head: verdict.head, ...(head ? { signedHead: head } : {}) },
      human: `audit log intact: ${verdict.rows} rows, head ${verdict.head}${checked || '\n(`ca serve` logs and serves a signed head at /v1/audit/head: record it elsewhere and check it here with --head)'}`,
    };
  });
}
