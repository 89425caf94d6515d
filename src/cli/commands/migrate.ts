// `ca migrate`: bring a CA's database to this meshca's schema, or move a SQLite CA to PostgreSQL (--to).

import { parseDatabaseUrl, redactDatabaseUrl } from '../../config/ca-config.js';
import { CaError } from '../../errors.js';
import { moveToPostgres } from '../../server/move-store.js';
import { connectionUrl } from '../../store/open-store.js';
import type { CommandOutput } from '../output.js';
import { localActor, withLocalCa } from './shared.js';

export async function migrate(args: { dir: string; to?: string }, log: (line: string) => void): Promise<CommandOutput> {
  if (args.to !== undefined) {
    try {
      parseDatabaseUrl(args.to);
    } catch (e) {
      throw new CaError('ERR_USAGE', `cli: --to: ${(e as Error).message.replace(/^config: /, '')}`);
    }
    const moved = await moveToPostgres(args.dir, connectionUrl(args.to, '--to')!, { actor: localActor() }, (table, rows) => log(`copied ${table}: ${rows} rows`));
    const total = Object.values(moved.rows).reduce((a, b) => a + b, 0);
    return {
      data: moved,
      human: [
        `moved ${args.dir} to ${moved.database}: ${total} rows (${moved.rows.certificates} certificates, ${moved.rows.audit_log} audit rows), audit chain verified to the same head`,
        `  config.json now names the database; the SQLite file is kept as ${moved.keptSqlite}`,
        `  replicas: copy ${args.dir} (config.json, root.pem, private/) to each machine that runs ca serve`,
      ].join('\n'),
      notes: moved.passwordKeptOut ? ['the database password was used but not written into config.json: give it to every ca command and replica as MESHCA_DATABASE_URL (the whole URL) or PGPASSWORD'] : [],
    };
  }
  return withLocalCa(args.dir, (ca) => {
    const data = { store: ca.store.backend === 'postgres' ? redactDatabaseUrl(ca.store.location) : ca.store.location, backend: ca.store.backend, schemaVersion: ca.store.schemaVersion, upgraded: ca.store.upgraded ?? null };
    return { data, human: ca.store.upgraded ? `upgraded ${data.store} from schema ${ca.store.upgraded.from} to ${ca.store.upgraded.to}` : `${data.store} is up to date (schema ${data.schemaVersion})` };
  });
}
