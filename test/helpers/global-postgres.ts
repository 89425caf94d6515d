// vitest global setup: one throwaway PostgreSQL server for the whole run (or the one MESHCA_TEST_DATABASE_URL names).

import type { TestProject } from 'vitest/node';
import { startPostgres } from './postgres-server.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A superuser URL on the test server; tests make a database of their own on it (see databases.ts). */
    databaseUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<(() => void) | undefined> {
  const given = process.env.MESHCA_TEST_DATABASE_URL;
  if (given) {
    project.provide('databaseUrl', given);
    return undefined;
  }
  const server = await startPostgres();
  project.provide('databaseUrl', server.url);
  return () => server.destroy();
}
