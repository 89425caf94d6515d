// Benchmark child: signs the intermediate CRL of a CA directory holding N revoked certificates (cold, then again warm); prints times and peak RSS.
// The times are inside the process, its start-up excluded (`ca crl` is timed whole by the harness).

import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const [dir, count] = process.argv.slice(2);
const n = Number(count);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { LocalCa } = await import(join(ROOT, 'dist/src/server/local-ca.js'));

const local = await LocalCa.open(dir);
const authority = await local.authority(undefined);
const keyId = authority.intermediate.keyIdHex;
await local.close();
// The fixture: N revoked leaves in the real database, inserted directly (not timed).
const db = new Database(join(dir, 'ca.db'));
// Run again on the same directory (another measurement), the rows are already there.
const present = db.prepare("SELECT COUNT(*) AS n FROM certificates WHERE common_name = 'bulk'").get().n;
const insert = db.prepare("INSERT INTO certificates (serial, kind, issuer_key_id, common_name, dns_names, ip_addresses, not_before, not_after, der, revoked_at, revocation_reason) VALUES (?, 'leaf', ?, 'bulk', '[]', '[]', ?, ?, x'00', ?, ?)");
const now = Math.floor(Date.now() / 1000);
const reasons = ['unspecified', 'keyCompromise', 'superseded', 'cessationOfOperation'];
db.transaction(() => {
  for (let i = present; i < n; i++) insert.run(`4${i.toString(16).padStart(31, '0')}`, keyId, now - 60, now + 86400, now - (i % 3600), reasons[i % 4]);
})();
db.close();

const ca = await LocalCa.open(dir);
const a = await ca.authority(undefined);
const timed = async () => {
  const start = process.hrtime.bigint();
  const crl = await a.signCrl();
  return { crl, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
};
// The first build in a fresh process (cold caches, like `openssl ca -gencrl`), then the re-sign a running service does after a revocation.
const { crl, seconds } = await timed();
const resign = (await timed()).seconds;
const out = join(dir, '..', `crl-${n}.der`);
writeFileSync(out, crl.der);
await ca.close();
if (crl.entries !== n) throw new Error(`expected ${n} entries, got ${crl.entries}`);
process.stdout.write(JSON.stringify({ seconds, resign, maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024), out }));
