// A real `ca serve` child process on 127.0.0.1 with OS-chosen ports, its log captured to a file.

import { badLogLines } from './log-lines.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { CA_BIN } from './run.js';

export interface RunningCa {
  url: string;
  httpUrl: string;
  httpsPort: number;
  httpPort: number;
  child: ChildProcess;
  log: () => string;
  /** SIGTERM, then the exit code. */
  stop: () => Promise<number | null>;
}

/** Starts `ca serve --dir dir`; `httpsPort` 0 lets the OS choose (pass a port to restart on the same one). */
export async function startCa(dir: string, options: { httpsPort?: number; httpPort?: number; env?: Record<string, string>; args?: string[] } = {}): Promise<RunningCa> {
  const logPath = join(dir, '..', `serve-${Date.now()}-${Math.random().toString(16).slice(2)}.log`);
  const fd = openSync(logPath, 'w');
  const child = spawn(process.execPath, [CA_BIN, 'serve', '--dir', dir, '--listen', `127.0.0.1:${options.httpsPort ?? 0}`, '--http-listen', `127.0.0.1:${options.httpPort ?? 0}`, ...(options.args ?? [])], {
    stdio: ['ignore', fd, fd],
    env: { ...process.env, ...options.env },
  });
  closeSync(fd);
  const log = () => readFileSync(logPath, 'utf8');
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 20_000;
  for (;;) {
    const line = log().split('\n').find((l) => l.includes('"msg":"listening"'));
    if (line) {
      const { https, http } = JSON.parse(line) as { https: { port: number }; http: { port: number } };
      return {
        url: `https://127.0.0.1:${https.port}`,
        httpUrl: `http://127.0.0.1:${http.port}`,
        httpsPort: https.port,
        httpPort: http.port,
        child,
        log,
        stop: async () => {
          if (child.exitCode === null) child.kill('SIGTERM');
          const code = await exited;
          // Every line the service logged must survive a log pipeline: JSON, and no key twice (a second "level"
          // would overwrite the severity).
          const bad = badLogLines(log());
          if (bad.length > 0) throw new Error(`ca serve logged lines a log pipeline would misread:\n${bad.slice(0, 5).join('\n')}`);
          return code;
        },
      };
    }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`ca serve did not start: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One HTTPS request to the service, as raw as a foreign client would send it. */
export function httpsRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer; ca: string; cert?: string; key?: string },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string; json: () => any }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers, ca: options.ca, cert: options.cert, key: options.key, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode!, headers: res.headers, body, json: () => JSON.parse(body) });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A port that was free a moment ago (for a --public-url that must be known before the service starts). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
