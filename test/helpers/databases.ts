// Databases for tests: a new PostgreSQL database per test (dropped after the file), and the two store backends as a table.

import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, inject } from 'vitest';

/** The store backends every store and service test runs against. */
export const BACKENDS = ['sqlite', 'postgres'] as const;
export type Backend = (typeof BACKENDS)[number];

const made: { server: string; name: string }[] = [];

afterAll(async () => {
  for (const { server, name } of made.splice(0)) {
    const sql = postgres(server, { max: 1, onnotice: () => {} });
    await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
    await sql.end();
  }
});

/** A URL with `database` in place of the one `serverUrl` names. */
export function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.href;
}

/** A new, empty database on the test server (or on `serverUrl`), dropped when the test file ends. */
export async function freshDatabaseUrl(serverUrl: string = inject('databaseUrl')): Promise<string> {
  const name = `meshca_t_${randomBytes(6).toString('hex')}`;
  const sql = postgres(serverUrl, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await sql.end();
  }
  made.push({ server: serverUrl, name });
  return withDatabase(serverUrl, name);
}

/** What `ca init` needs to put a CA on `backend`: nothing for SQLite, `--database` with a fresh database for PostgreSQL. */
export async function initArgs(backend: Backend): Promise<string[]> {
  return backend === 'postgres' ? ['--database', await freshDatabaseUrl()] : [];
}
