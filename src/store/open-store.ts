// Chooses and opens a CA's store: the SQLite file in its directory, or the PostgreSQL database its config names.

import { parseDatabaseUrl, type CaConfig } from '../config/ca-config.js';
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

/** Opens the store (applying migrations); PostgreSQL's client is loaded only for a CA that uses it. */
export async function openCaStore(options: OpenStoreOptions): Promise<CaStore> {
  if (options.databaseUrl === undefined) return openSqliteStore(options.sqlitePath, options);
  const { openPostgresStore } = await import('./postgres-store.js');
  return openPostgresStore(options.databaseUrl, options);
}
