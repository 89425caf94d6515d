// Prints bench/results.json (or the file given) as the Markdown table the README shows: node bench/table.mjs [FILE]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const file = process.argv[2] ?? fileURLToPath(new URL('results.json', import.meta.url));
const { scenarios } = JSON.parse(readFileSync(file, 'utf8'));

/** 1,234 for large numbers, 3 significant digits below 100. */
const num = (v) => (Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : String(Number(v.toPrecision(3))));
const target = (t, unit) => {
  switch (t.kind) {
    case 'min':
      return `≥ ${num(t.value)}${unit === '/s' ? '/s' : ` ${unit}`}`;
    case 'max':
      return `≤ ${num(t.value)}${unit === '/s' ? '/s' : ` ${unit}`}`;
    case 'ratioMin':
      return `≥ ${t.value}x peer`;
    default:
      return `≤ ${t.value}x peer`;
  }
};

console.log('| scenario | metric | meshca | peer (same run) | ratio | target | met |');
console.log('|---|---|---|---|---|---|---|');
for (const s of scenarios) {
  const value = `${num(s.value)} ${s.unit}`;
  const peer = s.peer ? `${s.peer.name}: ${num(s.peer.value)}` : '';
  console.log(`| ${s.name} | ${s.metric} | ${value} | ${peer} | ${s.ratio ?? ''} | ${target(s.target, s.unit)} | ${s.met ? 'yes' : '**no**'} |`);
}
const met = scenarios.filter((s) => s.met).length;
console.log(`\n${met} of ${scenarios.length} targets met.`);
