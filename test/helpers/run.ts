// Runs the built `ca` CLI and foreign tools (openssl) as child processes and captures what a user would see.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const CA_BIN = fileURLToPath(new URL('../../dist/cmd/ca.js', import.meta.url));

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `ca` with `args`; `env` adds to (or, with undefined values, removes from) the environment. */
export function ca(args: string[], options: { env?: Record<string, string | undefined>; cwd?: string; input?: string } = {}): RunResult {
  if (!existsSync(CA_BIN)) throw new Error(`${CA_BIN} is missing: run \`make build\` (make test does it for you)`);
  const env: Record<string, string | undefined> = { ...process.env, CA_PASSPHRASE: undefined, MESHCA_DEBUG: undefined, MESHCA_API_KEY: undefined, MESHCA_TOKEN: undefined, ...options.env };
  const r = spawnSync(process.execPath, [CA_BIN, ...args], {
    encoding: 'utf8',
    env: Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as NodeJS.ProcessEnv,
    cwd: options.cwd,
    input: options.input,
    timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `ca` and parses its --json output, failing loudly with stderr when it did not succeed. */
export function caJson<T = Record<string, unknown>>(args: string[], options: Parameters<typeof ca>[1] = {}): T {
  const r = ca([...args, '--json'], options);
  if (r.code !== 0) throw new Error(`ca ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** Runs openssl. */
export function openssl(args: string[], input?: string | Buffer): RunResult {
  const r = spawnSync('openssl', args, { encoding: 'utf8', input, timeout: 60_000, maxBuffer: 256 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a command without blocking the event loop (needed when the server under test lives in this process). */
export function runAsync(command: string, args: string[], input?: string, env?: Record<string, string | undefined>): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const merged = env === undefined ? undefined : (Object.fromEntries(Object.entries({ ...process.env, ...env }).filter(([, v]) => v !== undefined)) as NodeJS.ProcessEnv);
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], ...(merged ? { env: merged } : {}) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** Runs `ca` without blocking the event loop (for servers that live in the test process). */
export function caAsync(args: string[], env: Record<string, string | undefined> = {}): Promise<RunResult> {
  return runAsync(process.execPath, [CA_BIN, ...args], undefined, { CA_PASSPHRASE: undefined, MESHCA_DEBUG: undefined, MESHCA_API_KEY: undefined, MESHCA_TOKEN: undefined, ...env });
}
