// `ca audit` and `ca audit verify`: the audit log, oldest first, and the check of its hash chain.

import { CaError } from '../../errors.js';
import { table, type CommandOutput } from '../output.js';
import { withLocalCa } from './shared.js';

export function audit(args: { dir: string }): CommandOutput {
  return withLocalCa(args.dir, (ca) => {
    const rows = ca.store.auditLog();
    const data = rows.map((r) => ({ id: r.id, at: r.at.toISOString(), actor: r.actor, action: r.action, target: r.target, outcome: r.outcome, detail: r.detail ?? null }));
    const human = table(
      ['ID', 'AT', 'ACTOR', 'ACTION', 'TARGET', 'OUTCOME'],
      data.map((d) => [String(d.id), d.at, d.actor, d.action, d.target ?? '-', d.outcome]),
    );
    return { data, human };
  });
}

/** Walks the audit log's hash chain; an edited, deleted or reordered row fails with `ERR_AUDIT_TAMPERED`. */
export function auditVerify(args: { dir: string }): CommandOutput {
  return withLocalCa(args.dir, (ca) => {
    const verdict = ca.store.verifyAuditChain();
    if (!verdict.ok) {
      throw new CaError('ERR_AUDIT_TAMPERED', `audit: ${verdict.message} (checked ${verdict.rows} rows)`, { detail: { rowId: verdict.rowId, problem: verdict.problem } });
    }
    return {
      data: { ok: true, rows: verdict.rows, head: verdict.head },
      human: `audit log intact: ${verdict.rows} rows, head ${verdict.head}\n(record the head elsewhere: rows removed from the end leave a shorter valid chain)`,
    };
  });
}
