// Benchmark child for revocation reach: `CA_URL ROOT BUNDLE CREDS_JSON` holds RevocationStreams to the CA, each with
// a client certificate of its own (CREDS_JSON: [{cert, key}]), and says when each verified `revoked` event arrived.
// Commands on stdin, one JSON line each: {op:'open', count} opens streams up to `count` and answers {op:'opened'}
// once all are connected; {op:'close', keep} closes all but the first `keep`; {op:'flush', serial} answers with what
// arrived for that serial so far. Without a flush, {op:'arrived', serial, times} is printed once every open stream
// has had the serial. Times are Date.now() in ms (the machine's clock, shared with the parent), taken in the
// `revoked` handler, after the stream checked the event's OCSP signature.

import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { RevocationStream } from '../dist/src/client/revocation-stream.js';

const [caUrl, rootPath, bundlePath, credsPath] = process.argv.slice(2);
const root = readFileSync(rootPath, 'utf8');
const bundle = readFileSync(bundlePath, 'utf8');
const creds = JSON.parse(readFileSync(credsPath, 'utf8'));
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

const streams = [];
/** serial → arrival times, one per stream that reported it. */
const arrivals = new Map();
const flushed = new Set();
let disconnects = 0;
let forged = 0;

function onRevoked(n) {
  const t = Date.now();
  let times = arrivals.get(n.serial);
  if (!times) arrivals.set(n.serial, (times = []));
  times.push(t);
  if (times.length === streams.length && !flushed.has(n.serial)) {
    flushed.add(n.serial);
    say({ op: 'arrived', serial: n.serial, times, open: streams.length });
  }
}

async function open(count) {
  const started = Date.now();
  while (streams.length < Math.min(count, creds.length)) {
    const c = creds[streams.length];
    const s = new RevocationStream({ caUrl, caBundle: root, credentials: () => c, trustBundle: () => bundle });
    s.on('revoked', onRevoked);
    s.on('forged', () => forged++);
    s.on('disconnected', (_e, was) => was && disconnects++);
    s.start();
    streams.push(s);
    // A few at a time, as services start: 1,000 handshakes at once would only measure the accept queue.
    if (streams.length % 25 === 0) await new Promise((r) => setTimeout(r, 20));
  }
  while (!streams.every((s) => s.connected)) await new Promise((r) => setTimeout(r, 25));
  say({ op: 'opened', open: streams.length, ms: Date.now() - started, disconnects, forged });
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = JSON.parse(line);
  if (cmd.op === 'open') void open(cmd.count);
  else if (cmd.op === 'close') {
    while (streams.length > cmd.keep) streams.pop().close();
    say({ op: 'closed', open: streams.length });
  } else if (cmd.op === 'flush') {
    flushed.add(cmd.serial);
    say({ op: 'arrived', serial: cmd.serial, times: arrivals.get(cmd.serial) ?? [], open: streams.length, partial: true });
  } else if (cmd.op === 'stats') say({ op: 'stats', open: streams.length, connected: streams.filter((s) => s.connected).length, disconnects, forged });
});
process.on('SIGTERM', () => process.exit(0));
