// A signing worker thread: loads the issuer once, then answers SigningJobs with signed, linted leaves.

import { parentPort, workerData } from 'node:worker_threads';
import { CaError } from '../errors.js';
import { signedIssuance, signingContext } from './issue.js';
import { loadIssuer } from './issuer.js';
import type { SigningJob, SigningReply, SigningWorkerData } from './signing-pool.js';

const data = workerData as SigningWorkerData;
const port = parentPort!;
let now = Date.now();
const ctx = signingContext(loadIssuer(Buffer.from(data.issuerDer), data.issuerKey, 'intermediate'), data.policy, data.urls, { now: () => new Date(now) });

port.on('message', (job: SigningJob) => {
  now = job.now;
  let reply: SigningReply;
  try {
    const request = 'csr' in job.request.key ? { ...job.request, key: { csr: Buffer.from(job.request.key.csr) } } : { ...job.request, key: { spki: Buffer.from(job.request.key.spki) } };
    const entry = signedIssuance(ctx, request, { actor: job.actor }, job.options);
    reply = { id: job.id, entry };
  } catch (e) {
    reply = e instanceof CaError
      ? { id: job.id, error: { code: e.code, message: e.message, ...(e.detail ? { detail: { ...e.detail } } : {}) } }
      : { id: job.id, error: { code: 'ERR_SIGNER_UNAVAILABLE', message: 'authority: signing failed unexpectedly' } };
  }
  port.postMessage(reply);
});
port.postMessage('ready');
