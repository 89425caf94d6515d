// `ca backup`: a consistent copy of a SQLite CA's database while it serves, checked before it is called done.

import { realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve, sep } from 'node:path';
import Database from 'better-sqlite3';
import { CaError } from '../../errors.js';
import { SqliteCertificateStore } from '../../store/sqlite-store.js';
import { checkOutputPath } from '../io.js';
import type { CommandOutput } from '../output.js';
import { withLocalCa } from './shared.js';

/** Refuses a backup written into the CA directory: over the live database (or its journal) it would wreck the CA. */
function refuseInsideCaDirectory(out: string, dir: string): void {
  const real = (p: string): string => {
    try {
      return realpathSync(p);
    } catch {
      return resolve(p);
    }
  };
  const folder = real(dirname(resolve(out)));
  const caDir = real(dir);
  if (folder === caDir || folder.startsWith(`${caDir}${sep}`)) {
    throw new CaError('ERR_USAGE', `cli: --out ${out} is inside the CA directory ${dir}: write the backup elsewhere (over ca.db it would destroy the database it copies)`);
  }
}

export async function backup(args: { dir: string; out: string; force?: boolean }, log: (line: string) => void): Promise<CommandOutput> {
  checkOutputPath(args.out, 'backup', args.force ?? false);
  refuseInsideCaDirectory(args.out, args.dir);
  return withLocalCa(args.dir, async (ca) => {
    if (!(ca.store instanceof SqliteCertificateStore)) {
      throw new CaError('ERR_USAGE', `cli: ${args.dir} keeps its data in PostgreSQL (${ca.store.location}): back it up with pg_dump (see the README, "Backup and restore"), and keep a copy of DIR/private`);
    }
    // Written beside the target and renamed when complete and checked: a backup file is never half a backup.
    const tmp = join(dirname(args.out), `.${basename(args.out)}.${randomBytes(4).toString('hex')}.tmp`);
    let lastPercent = -1;
    try {
      try {
        writeFileSync(tmp, '', { mode: 0o600 });
      } catch (e) {
        throw new CaError('ERR_FILE_WRITE', `cli: cannot write the backup in ${dirname(resolve(args.out))}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      await ca.store.backup(tmp, (done, total) => {
        const percent = total === 0 ? 100 : Math.floor((done / total) * 100);
        if (percent >= lastPercent + 25) log(`copied ${percent}% (${done} of ${total} pages)`);
        lastPercent = Math.max(lastPercent, percent);
      });
      // The copy is one self-contained file: rollback journal, not WAL (which would leave -wal and -shm beside it).
      const copy = new Database(tmp);
      copy.pragma('journal_mode = DELETE');
      let check: { integrity: string; certificates: number; auditRows: number; schemaVersion: number };
      try {
        check = {
          integrity: copy.pragma('integrity_check', { simple: true }) as string,
          certificates: copy.prepare<[], number>('SELECT COUNT(*) FROM certificates').pluck().get()!,
          auditRows: copy.prepare<[], number>('SELECT COUNT(*) FROM audit_log').pluck().get()!,
          schemaVersion: copy.prepare<[], number>('SELECT MAX(version) FROM schema_migrations').pluck().get()!,
        };
      } finally {
        copy.close();
      }
      if (check.integrity !== 'ok') throw new CaError('ERR_STORE_CORRUPT', `cli: the backup did not pass SQLite's integrity check (${check.integrity}); nothing was written to ${args.out}`);
      renameSync(tmp, args.out);
      const data = { out: args.out, bytes: statSync(args.out).size, schemaVersion: check.schemaVersion, certificates: check.certificates, auditRows: check.auditRows };
      return { data, human: `wrote ${args.out}: ${data.bytes} bytes, ${data.certificates} certificates, ${data.auditRows} audit rows, schema ${data.schemaVersion}; restore it as DIR/ca.db with ca serve stopped (README, "Backup and restore")` };
    } finally {
      for (const leftover of [tmp, `${tmp}-wal`, `${tmp}-shm`, `${tmp}-journal`]) rmSync(leftover, { force: true });
    }
  });
}
