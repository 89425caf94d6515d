// `ca audit`: the audit log, oldest first.

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
