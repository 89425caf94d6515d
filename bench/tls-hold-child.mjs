// Benchmark child, the peer for the revocation stream's memory: plain node:https holding idle mTLS connections the way
// the stream does (a 200 text/event-stream answer left open), with nothing of meshca in between.
// `server CERT KEY` listens on 127.0.0.1:0, prints {port}, and answers {rssKb} to each `rss` line on stdin;
// `client PORT CREDS_JSON` opens one connection per credential ([{cert, key}]), prints {open} and holds them.

import https from 'node:https';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const [mode, ...args] = process.argv.slice(2);
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

if (mode === 'server') {
  const [cert, key] = args;
  const server = https.createServer({ cert: readFileSync(cert), key: readFileSync(key), requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' }, (req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store' });
    res.write('retry: 1000\n\n');
  });
  server.maxConnections = 100_000;
  server.listen(0, '127.0.0.1', () => say({ port: server.address().port }));
  createInterface({ input: process.stdin }).on('line', () => say({ rssKb: Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) }));
} else {
  const [port, credsPath] = args;
  const creds = JSON.parse(readFileSync(credsPath, 'utf8'));
  const held = [];
  for (const c of creds) {
    await new Promise((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: Number(port), path: '/', agent: false, cert: c.cert, key: c.key, rejectUnauthorized: false }, (res) => {
        res.on('data', () => {});
        held.push(res);
        resolve();
      });
      req.on('error', reject);
      req.end();
    });
  }
  say({ open: held.length });
}
process.on('SIGTERM', () => process.exit(0));
