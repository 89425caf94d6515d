// One `ca serve` per CA directory: an exclusive SQLite lock held for the life of the process, released by the OS on death.

import { chmodSync } from 'node:fs';
import Database from 'better-sqlite3';
import { CaError } from '../errors.js';

/** A held lock; `release()` gives it back. */
export interface DirectoryLock {
  release(): void;
}

/**
 * Takes the serve lock at `path`. An exclusive transaction on a small SQLite file is held open instead of a PID
 * file: the kernel drops it when the process dies however it dies, so a crash never leaves a stale lock.
 */
export function acquireServeLock(path: string, dir: string): DirectoryLock {
  const db = new Database(path);
  try {
    chmodSync(path, 0o600);
    db.pragma('busy_timeout = 0');
    db.pragma('journal_mode = DELETE');
    db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER)');
    db.exec('BEGIN EXCLUSIVE');
    db.prepare('DELETE FROM holder').run();
    db.prepare('INSERT INTO holder (pid) VALUES (?)').run(process.pid);
  } catch (e) {
    db.close();
    const code = (e as { code?: string }).code ?? '';
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
      throw new CaError('ERR_CA_LOCKED', `server: another \`ca serve\` is already running on ${dir}`);
    }
    throw e;
  }
  return {
    release() {
      if (!db.open) return;
      db.exec('ROLLBACK');
      db.close();
    },
  };
}
