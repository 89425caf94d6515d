// Issuance stages 1-5 (verify the CSR, apply policy, build, sign, lint) on worker threads, so every core signs.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CaError, type CaErrorCode } from '../errors.js';
import type { PublicationUrls } from '../pki/profile.js';
import type { Caller, IssueOptions, IssueRequest } from './issue.js';
import type { Issuer } from './issuer.js';
import type { LeafPolicy } from './policy.js';
import type { IssuedEntry } from './ports.js';

/** What a signing worker is started with: the issuer's certificate and key, the policy, the publication URLs. */
export interface SigningWorkerData {
  readonly issuerDer: Buffer;
  readonly issuerKey: Issuer['key'];
  readonly policy: LeafPolicy;
  readonly urls: PublicationUrls;
}

/** One job for a worker; `now` is the main thread's clock, so every worker signs with the same time source. */
export interface SigningJob {
  readonly id: number;
  readonly request: IssueRequest;
  readonly actor: string;
  readonly options: IssueOptions;
  readonly now: number;
}

/** A worker's answer: the signed entry, or the CaError it raised, as plain data. */
export type SigningReply =
  | { readonly id: number; readonly entry: IssuedEntry }
  | { readonly id: number; readonly error: { readonly code: CaErrorCode; readonly message: string; readonly detail?: Record<string, unknown> } };

/** Structured clone turns Buffers into Uint8Arrays; the store and the response expect Buffers. */
function withBuffers(entry: IssuedEntry): IssuedEntry {
  const der = entry.record.der as Uint8Array;
  return { ...entry, record: { ...entry.record, der: Buffer.from(der.buffer, der.byteOffset, der.byteLength) } };
}

const WORKER_URL = new URL('./signing-worker.js', import.meta.url);

/**
 * A fixed set of signing workers fed round-robin. Each job is self-contained and answered once; a worker that
 * dies fails its jobs with `ERR_INTERNAL` and is replaced.
 */
export class SigningPool {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, { worker: Worker; resolve: (e: IssuedEntry) => void; reject: (e: unknown) => void }>();
  private nextId = 1;
  private turn = 0;
  private closed = false;

  private constructor(
    private readonly data: SigningWorkerData,
    private readonly now: () => Date,
  ) {}

  /** True when the compiled worker is present (it is not when the sources run untranspiled, as in unit tests). */
  static available(): boolean {
    return existsSync(fileURLToPath(WORKER_URL));
  }

  /** Starts `size` workers and resolves once each has loaded the issuer. */
  static async start(size: number, data: SigningWorkerData, now: () => Date): Promise<SigningPool> {
    const pool = new SigningPool(data, now);
    await Promise.all(Array.from({ length: size }, () => pool.spawn()));
    return pool;
  }

  get size(): number {
    return this.workers.length;
  }

  private spawn(): Promise<void> {
    const worker = new Worker(WORKER_URL, { workerData: this.data });
    this.workers.push(worker);
    let ready = false;
    worker.on('message', (reply: SigningReply | 'ready') => {
      if (reply === 'ready') {
        ready = true;
        return;
      }
      const job = this.waiting.get(reply.id);
      if (!job) return;
      this.waiting.delete(reply.id);
      if ('entry' in reply) job.resolve(withBuffers(reply.entry));
      else job.reject(new CaError(reply.error.code, reply.error.message, reply.error.detail ? { detail: reply.error.detail } : undefined));
    });
    worker.on('exit', () => {
      const i = this.workers.indexOf(worker);
      if (i >= 0) this.workers.splice(i, 1);
      for (const [id, job] of this.waiting) {
        if (job.worker !== worker) continue;
        this.waiting.delete(id);
        job.reject(new CaError('ERR_SIGNER_UNAVAILABLE', 'authority: a signing worker stopped; retry the request'));
      }
      // Replace a worker that died while serving; one that never started would only die again.
      if (!this.closed && ready) void this.spawn().catch(() => undefined);
    });
    return new Promise((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
  }

  /** Runs stages 1-5 for `request` on the next worker. */
  sign(request: IssueRequest, caller: Caller, options: IssueOptions): Promise<IssuedEntry> {
    const worker = this.workers[this.turn++ % this.workers.length];
    if (!worker) return Promise.reject(new CaError('ERR_SIGNER_UNAVAILABLE', 'authority: no signing worker is running'));
    const job: SigningJob = { id: this.nextId++, request, actor: caller.actor, options, now: this.now().getTime() };
    return new Promise((resolve, reject) => {
      this.waiting.set(job.id, { worker, resolve, reject });
      worker.postMessage(job);
    });
  }

  /** Stops every worker once the jobs handed to them are done (a rotation must not fail requests in flight; 10 s at most). */
  async close(): Promise<void> {
    this.closed = true;
    const deadline = Date.now() + 10_000;
    while (this.waiting.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
