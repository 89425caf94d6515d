// A throwaway PostgreSQL server for tests: initdb in a temporary folder, a free port on 127.0.0.1, an unprivileged user when run as root.

import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Plain JavaScript, so that `make bench` (bench/run.mjs) starts its throwaway server with the same code as the tests.

/**
 * A running server: its superuser URL (database `postgres`), and how to restart or stop it.
 * @typedef {{ url: string, port: number, restart(): void, stop(): void, start(): void, destroy(): void }} PostgresServer
 * restart: `pg_ctl restart` (fast shutdown: open connections are cut, as in a real failover); stop: without starting
 * again; start: a stopped server on the same port; destroy: stop it and remove its folder.
 */

/** The folder with initdb and pg_ctl: Debian's /usr/lib/postgresql/<newest>/bin, else whatever is on the PATH. */
/** @returns {string | undefined} */
export function postgresBin() {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root).filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(root, versions[0], 'bin');
  }
  const which = spawnSync('sh', ['-c', 'dirname "$(command -v initdb)"'], { encoding: 'utf8' });
  return which.status === 0 && which.stdout.trim() !== '.' ? which.stdout.trim() : undefined;
}

/** @returns {Promise<number>} */
async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {{ port: number }} */ (server.address());
      server.close(() => resolve(port));
    });
  });
}

/** initdb and pg_ctl refuse to run as root: as root they run as `postgres` (Debian's package makes it), else `nobody`. */
/** @returns {{ user: string, uid: number, gid: number } | undefined} */
function runAs() {
  if (process.getuid?.() !== 0) return undefined;
  for (const user of ['postgres', 'nobody']) {
    const id = spawnSync('id', ['-u', user], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', user], { encoding: 'utf8' });
    if (id.status === 0) return { user, uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) };
  }
  throw new Error('running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as');
}

/**
 * Starts a new cluster: trust authentication on 127.0.0.1 only (the tests' own loopback server), fsync off unless
 * `durable` (a throwaway), a socket folder of its own. `make test` installs Debian's postgresql package when it is missing.
 */
/**
 * @param {{ durable?: boolean }} [options] durable: keep fsync and synchronous commit on (benchmarks compare like with
 *   like: SQLite's synchronous=FULL); tests turn them off, a throwaway server needs no durability.
 * @returns {Promise<PostgresServer>}
 */
export async function startPostgres(options = {}) {
  const bin = postgresBin();
  if (!bin) throw new Error('PostgreSQL is not installed (initdb not found): `make test` installs Debian\'s postgresql package; or set MESHCA_TEST_DATABASE_URL');
  const dir = mkdtempSync(join(tmpdir(), 'meshca-pg-'));
  chmodSync(dir, 0o700);
  const as = runAs();
  if (as) chownSync(dir, as.uid, as.gid);
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  /** @param {string} cmd @param {string[]} args */
  const run = (cmd, args) => {
    const r = as ? spawnSync('runuser', ['-u', as.user, '--', join(bin, cmd), ...args], { encoding: 'utf8', cwd: dir }) : spawnSync(join(bin, cmd), args, { encoding: 'utf8', cwd: dir });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
  };
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C']);
  const port = await freePort();
  writeFileSync(join(data, 'postgresql.auto.conf'), [`port = ${port}`, "listen_addresses = '127.0.0.1'", `unix_socket_directories = '${dir}'`, ...(options.durable ? [] : ['fsync = off', 'synchronous_commit = off', 'full_page_writes = off']), 'max_connections = 300', "log_min_messages = 'warning'"].join('\n'));
  if (as) chownSync(join(data, 'postgresql.auto.conf'), as.uid, as.gid);
  const start = () => run('pg_ctl', ['-D', data, '-l', log, '-w', '-t', '30', 'start']);
  const stop = () => run('pg_ctl', ['-D', data, '-w', '-t', '30', '-m', 'fast', 'stop']);
  start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    restart: () => run('pg_ctl', ['-D', data, '-l', log, '-w', '-t', '30', '-m', 'fast', 'restart']),
    stop,
    start,
    destroy: () => {
      try {
        stop();
      } catch {
        // Already stopped.
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
