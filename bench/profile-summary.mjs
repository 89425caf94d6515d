// Summarizes V8 CPU profiles (node --cpu-prof) of ca serve under load into where the time goes: node bench/profile-summary.mjs DIR [TOP]
// (BENCH_CPU_PROF=DIR node bench/run.mjs SCENARIO writes them); TOP > 0 also lists the TOP functions by self time.
import fs from 'node:fs';
const [DIR, top = '0'] = process.argv.slice(2);
const TOP = Number(top);
const fail = (message) => {
  console.error(`profile-summary: ${message}`);
  process.exit(2);
};
if (DIR === undefined) fail('usage: node bench/profile-summary.mjs DIR [TOP] (DIR holds the .cpuprofile files BENCH_CPU_PROF=DIR wrote)');
if (!Number.isInteger(TOP) || TOP < 0) fail(`TOP must be a whole number, not ${top}`);
let files;
try {
  files = fs.readdirSync(DIR).filter((f) => f.endsWith('.cpuprofile'));
} catch (e) {
  fail(`cannot read ${DIR}: ${e.code ?? e.message}`);
}
if (files.length === 0) fail(`no .cpuprofile file in ${DIR}`);
for (const f of files) {
  const p=JSON.parse(fs.readFileSync(DIR + '/' + f));
  const nodes=new Map(p.nodes.map(n=>[n.id,n])); const parent=new Map();
  for(const n of p.nodes) for(const c of (n.children||[])) parent.set(c,n.id);
  const cnt=new Map(); p.samples.forEach((s,i)=>cnt.set(s,(cnt.get(s)||0)+(p.timeDeltas[i]||0)));
  const rules=[
    ['idle',/\(idle\)/],['gc',/\(garbage collector\)/],
    ['SQLite (store, group commit)',/better-sqlite3|sqlite-store|group-commit|sqliteTransaction/],
    ['audit chain (HMAC seal)',/audit-chain|auditAppender|sealRow/],
    ['CSR parse and verify',/pki\/csr|verifyCsr|csr\.js/],
    ['sign and build leaf',/authority\/issue\.js|signLeaf|crypto\/der\.js|crypto\/sign|pki\/profile\.js|pki\/certificate\.js/],
    ['lint',/lint/],
    ['policy and names',/policy|identity\//],
    ['signing worker messaging',/signing-pool|worker_threads|structuredClone|postMessage/],
    ['JSON',/^(parse|stringify) |json/i],
    ['request log (pino)',/pino|request-log|sonic-boom/],
    ['express routing and middleware',/express|router\/|body-parser|raw-body|api\/app|routes\//],
    ['HTTP parsing and writing',/_http_|node:http/],
    ['TLS',/_tls_|node:tls|TLSWrap|tls_wrap/],
    ['net and streams',/node:net|stream|node:events/],
  ];
  const cat=new Map(); let total=0;
  for(const [id,t] of cnt){ total+=t; let cur=id, found='other';
    while(cur!==undefined){ const n=nodes.get(cur); const k=n.callFrame.functionName+' '+n.callFrame.url; const r=rules.find(([,re])=>re.test(k)); if(r){found=r[0];break;} cur=parent.get(cur);} 
    cat.set(found,(cat.get(found)||0)+t);}
  const busy=total-(cat.get('idle')||0);
  console.log(f, 'total', Math.round(total/1000),'ms busy', Math.round(busy/1000),'ms');
  [...cat.entries()].filter(([k])=>k!=='idle').sort((a,b)=>b[1]-a[1]).forEach(([k,v])=>console.log('  ',(100*v/busy).toFixed(1).padStart(5)+'%',k));
  if (TOP > 0) {
    const self = new Map();
    for (const [id, t] of cnt) {
      const n = nodes.get(id);
      const k = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}`;
      self.set(k, (self.get(k) || 0) + t);
    }
    [...self.entries()].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, TOP).forEach(([k, v]) => console.log('     self', (100 * v / busy).toFixed(1).padStart(5) + '%', k));
  }
}
