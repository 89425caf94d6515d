// What several CLI verbs share: the local operator's audit name, opening a CA directory (and noting its upgrade), stopping daemons on a signal.

import { userInfo } from 'node:os';
import { LocalCa } from '../../server/local-ca.js';

/** The audit-log actor for a person running the CLI on the CA host. */
export function localActor(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // Containers may run under a uid with no passwd entry.
  }
  return `local:${user}`;
}

/**
 * Opens a CA directory and its store for the duration of `fn`. The first command after an upgrade says on stderr
 * that the database was upgraded (a note beside the verb's output).
 */
export async function withLocalCa<T>(dir: string, fn: (ca: LocalCa) => T | Promise<T>): Promise<T> {
  const ca = await LocalCa.open(dir);
  noteUpgrade(ca);
  try {
    return await fn(ca);
  } finally {
    await ca.close();
  }
}

/** Says once, on stderr, that opening `ca` upgraded its database. */
export function noteUpgrade(ca: LocalCa): void {
  const u = ca.store.upgraded;
  if (u) process.stderr.write(`ca: note: upgraded ${ca.store.location} from schema ${u.from} to ${u.to}; what changed (resealed audit chain, typed API-key scopes) is in \`ca audit\` under system:migrate\n`);
}

/** What stops a CLI daemon (`ca renew --daemon`, `ca crl sync`): SIGTERM or SIGINT, logged; `release` unhooks them. */
export function stopOnSignals(log: (line: string) => void): { signal: AbortSignal; release: () => void } {
  const stop = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: stopping`);
    stop.abort();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  return {
    signal: stop.signal,
    release: () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    },
  };
}
