// Chooses and opens a CA's store: the SQLite file in its directory, or the PostgreSQL database its config names.

import { parseDatabaseUrl, redactDatabaseUrl, type CaConfig } from '../config/ca-config.js';
import { CaError } from '../errors.js';
import type { CaStore } from './ca-store.js';
import { openSqliteStore } from './sqlite-store.js';

/** How to open a store. */
export interface OpenStoreOptions {
  /** The SQLite file (DIR/ca.db), used when there is no `databaseUrl`. */
  readonly sqlitePath: string;
  /** A PostgreSQL URL: the CA's data lives there instead. */
  readonly databaseUrl: string | undefined;
  /** Create the database (SQLite) or the schema (PostgreSQL) when absent. */
  readonly create?: boolean;
  /** Seals audit rows and API keys (see `auditSealKey`). */
  readonly sealKey: Buffer;
  readonly auditKeyFresh?: boolean;
}

/**
 * The PostgreSQL URL a CA directory's store is at: `MESHCA_DATABASE_URL` (so the password can stay out of
 * config.json) over config.json's `database`; undefined for a SQLite CA. The variable cannot turn a SQLite CA into
 * a PostgreSQL one: that is a migration (`ca migrate --to`).
 */
export function databaseUrlFor(config: Pick<CaConfig, 'database'>, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const fromEnv = env.MESHCA_DATABASE_URL;
  if (config.database === undefined) {
    if (fromEnv !== undefined && fromEnv !== '') {
      throw new CaError('ERR_CONFIG_INVALID', 'config: MESHCA_DATABASE_URL is set, but this CA keeps its data in ca.db (config.json has no "database"): unset it, or move the CA with `ca migrate --to postgres://…`');
    }
    return undefined;
  }
  if (fromEnv === undefined || fromEnv === '') return config.database;
  try {
    return parseDatabaseUrl(fromEnv);
  } catch (e) {
    throw new CaError('ERR_CONFIG_INVALID', `config: MESHCA_DATABASE_URL: ${(e as Error).message.replace(/^config: /, '')}`);
  }
}

/**
 * The URL to connect with to a database the command line names (`ca init --database`, `ca migrate --to`):
 * MESHCA_DATABASE_URL when it is set and names the same database (it may carry the password the named URL leaves
 * out), else the named one. MESHCA_DATABASE_URL naming another database, or set when no database is named, is a
 * usage error rather than silently ignored (a CA would end up in SQLite, or in the wrong database).
 */
export function connectionUrl(named: string | undefined, flag: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const fromEnv = env.MESHCA_DATABASE_URL;
  if (fromEnv === undefined || fromEnv === '') return named;
  if (named === undefined) {
    throw new CaError('ERR_USAGE', `cli: MESHCA_DATABASE_URL is set but ${flag} is not: pass ${flag} postgres://USER@HOST:PORT/DB to keep this CA in PostgreSQL (the password may stay in MESHCA_DATABASE_URL), or unset MESHCA_DATABASE_URL`);
  }
  let env_: URL;
  try {
    env_ = new URL(parseDatabaseUrl(fromEnv));
  } catch (e) {
    throw new CaError('ERR_USAGE', `cli: MESHCA_DATABASE_URL: ${(e as Error).message.replace(/^config: /, '')}`);
  }
  let given: URL;
  try {
    given = new URL(named);
  } catch {
    return named; // the command reports what is wrong with it
  }
  const where = (u: URL): string => `${decodeURIComponent(u.username)}@${u.hostname.toLowerCase()}:${u.port || '5432'}${decodeURIComponent(u.pathname)}`;
  if (where(env_) !== where(given)) {
    throw new CaError('ERR_USAGE', `cli: MESHCA_DATABASE_URL names ${redactDatabaseUrl(fromEnv)}, not ${redactDatabaseUrl(named)} as ${flag} does: unset it, or make the two name the same database`);
  }
  return given.password === '' ? fromEnv : named;
}

/** Opens the store (applying migrations); PostgreSQL's client is loaded only for a CA that uses it. */
export async function openCaStore(options: OpenStoreOptions): Promise<CaStore> {
  if (options.databaseUrl === undefined) return openSqliteStore(options.sqlitePath, options);
  const { openPostgresStore } = await import('./postgres-store.js');
  return openPostgresStore(options.databaseUrl, options);
}
