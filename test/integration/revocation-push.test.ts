// Revocations pushed to meshca/tls: peers in their own processes, a real `ca serve`, connections closed within 2 s.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { authorize, CertificateSource, createMtlsServer, peerIdentity, type Refusal } from '../../src/tls/index.js';
import { ca, caAsync } from '../helpers/run.js';
import { startCa } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/until.js';

const TD = 'push.internal';
const PEER = fileURLToPath(new URL('../helpers/push-peer.mjs', import.meta.url));
const CLIENTS = 50;

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Line = { event: string; t: number; port?: number; code?: string | null; peer?: string | null; serial?: string; reason?: string };

/** A peer process and every line it reported. */
interface Peer {
  child: ChildProcess;
  lines: Line[];
  serial: string;
}


/** `count` tokens made `concurrency` at a time (each `ca token` is a process). */
async function tokens(dir: string, names: string[], concurrency = 4): Promise<string[]> {
  const out: string[] = new Array<string>(names.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < names.length; i = next++) {
        const r = await caAsync(['token', names[i]!, '--dir', dir, '--spiffe-id', `spiffe://${TD}/${names[i]}`]);
        if (r.code !== 0) throw new Error(r.stderr);
        out[i] = r.stdout.trim();
      }
    }),
  );
  return out;
}

describe('revocations pushed to meshca/tls', () => {
  it('ok/50 peer processes: a revoked client is cut off on every server within 2 s, a revoked server by every client; the others are untouched', async () => {
    const root = tempDir();
    const dir = join(root, 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'Push CA', '--trust-domain', TD]).code).toBe(0);
    const svc = await startCa(dir);
    cleanups.push(async () => void (await svc.stop()));
    const rootPem = join(dir, 'root.pem');
    const names = [...Array.from({ length: 2 }, (_, i) => `server-${i}`), ...Array.from({ length: CLIENTS }, (_, i) => `client-${i}`)];
    const minted = await tokens(dir, names);

    // Two servers in this process, each on a source from the CA (subscribed to its stream), holding /hold open.
    const servers = await Promise.all(
      [0, 1].map(async (i) => {
        const source = await CertificateSource.fromCA({ caUrl: svc.url, caBundle: rootPem, dir: join(root, `server-${i}`), token: minted[i] });
        cleanups.push(() => source.close());
        const refusals: (Refusal & { at: number })[] = [];
        const held = new Set<import('node:http').ServerResponse>();
        const server = createMtlsServer({ source, authorize: authorize.memberOf(TD), onRefused: (r) => refusals.push({ ...r, at: Date.now() }) }, (req, res) => {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('held\n');
          held.add(res);
          res.on('close', () => held.delete(res));
        });
        server.listen(0, '127.0.0.1');
        await once(server, 'listening');
        cleanups.push(() => new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }));
        return { source, server, refusals, held, port: (server.address() as AddressInfo).port, serial: source.identity.serial };
      }),
    );
    // Wait for the servers' own subscriptions before anything is revoked.
    await until('the servers to subscribe', () => servers.every((s) => s.source.revocationStream?.connected));

    const peers: Peer[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      const child = spawn(process.execPath, [PEER, svc.url, rootPem, join(root, `client-${i}`), minted[i + 2]!, TD, String(servers[0]!.port), String(servers[1]!.port)], { stdio: ['ignore', 'pipe', 'inherit'] });
      const peer: Peer = { child, lines: [], serial: '' };
      createInterface({ input: child.stdout! }).on('line', (l) => {
        const line = JSON.parse(l) as Line;
        peer.lines.push(line);
        if (line.event === 'ready') peer.serial = line.serial!;
      });
      cleanups.push(() => void child.kill('SIGKILL'));
      peers.push(peer);
    }
    const connected = (p: Peer, port: number) => p.lines.some((l) => l.event === 'connected' && l.port === port);
    await until('every client to hold a connection to both servers', () => peers.every((p) => servers.every((s) => connected(p, s.port))), 90_000);
    expect(servers.map((s) => s.held.size)).toEqual([CLIENTS, CLIENTS]);
    const serials = new Map(peers.map((p, i) => [p.serial, i]));
    const heldBy = (s: (typeof servers)[number]) => [...s.held].map((res) => peerIdentity(res.socket)?.serial);

    // 1. A client is revoked (by `ca revoke` on the directory): every server closes its connection and refuses it.
    const victim = peers[7]!;
    const revoked = await caAsync(['revoke', victim.serial, '--dir', dir, '--reason', 'keyCompromise']);
    const t0 = Date.now();
    expect(revoked.code, revoked.stderr).toBe(0);
    for (const s of servers) {
      const closed = await until('the server to close the revoked client\'s connection', () => s.refusals.find((r) => r.peer?.serial === victim.serial && r.reason.includes('while connected')), 5_000);
      const refused = await until('the server to refuse its new handshake', () => s.refusals.find((r) => r.peer?.serial === victim.serial && r.code === 'revoked' && !r.reason.includes('while connected')), 5_000);
      expect(closed.at - t0).toBeLessThanOrEqual(2_000);
      expect(refused.at - t0).toBeLessThanOrEqual(2_000);
      expect(heldBy(s)).not.toContain(victim.serial);
    }
    expect(victim.lines.filter((l) => l.event === 'closed' && l.t >= t0 - 50).length).toBeGreaterThanOrEqual(2);
    // The other 49: never closed, still held by both servers, refused nowhere.
    await new Promise((r) => setTimeout(r, 1_000));
    for (const [i, p] of peers.entries()) if (i !== 7) expect(p.lines.filter((l) => l.event === 'closed' || l.event === 'failed')).toEqual([]);
    for (const s of servers) {
      expect(s.held.size).toBe(CLIENTS - 1);
      expect(s.refusals.filter((r) => r.peer?.serial !== victim.serial)).toEqual([]);
      expect(heldBy(s).every((serial) => serials.has(serial!))).toBe(true);
    }

    // 2. A server is revoked: every client (agent side) closes its connection to it and refuses it from then on.
    const bad = servers[0]!;
    const t1 = Date.now();
    expect((await caAsync(['revoke', bad.serial, '--dir', dir])).code).toBe(0);
    const others = peers.filter((_, i) => i !== 7);
    await until('every client to drop the revoked server', () => others.every((p) => p.lines.some((l) => l.event === 'refused' && l.peer === bad.serial && l.reason?.includes('while connected'))), 10_000);
    await until('every client to refuse the revoked server on reconnecting', () => others.every((p) => p.lines.some((l) => l.event === 'failed' && l.port === bad.port && l.t > t1 && l.code === 'ERR_MESHCA_PEER_REVOKED')), 10_000);
    for (const p of others) {
      const cut = p.lines.find((l) => l.event === 'refused' && l.peer === bad.serial && l.reason?.includes('while connected'))!;
      expect(cut.t - t1).toBeLessThanOrEqual(2_500); // measured from before the `ca revoke` process started
      // Untouched: the connection to the other server.
      expect(p.lines.filter((l) => l.port === servers[1]!.port && (l.event === 'closed' || l.event === 'failed'))).toEqual([]);
    }
    expect(servers[1]!.held.size).toBe(CLIENTS - 1);
  }, 240_000);
});
