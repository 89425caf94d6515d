// The README runs as written: every ```sh block, in order, in a temp folder, against the built CLI.

import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CA_BIN } from '../helpers/run.js';
import { freePort } from '../helpers/service.js';

const README = join(import.meta.dirname, '../../README.md');

/** The ```sh blocks, each as its commands (continuation lines joined), with the README line each starts on. */
export function shellBlocks(markdown: string): Array<{ line: number; commands: string[] }> {
  const blocks: Array<{ line: number; commands: string[] }> = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```sh') continue;
    const start = i + 1;
    const commands: string[] = [];
    let pending = '';
    for (i++; i < lines.length && lines[i]!.trim() !== '```'; i++) {
      const l = lines[i]!;
      if (pending === '' && (l.trim() === '' || l.trim().startsWith('#'))) continue;
      pending += l.endsWith('\\') ? `${l.slice(0, -1)} ` : l;
      if (!l.endsWith('\\')) {
        commands.push(pending);
        pending = '';
      }
    }
    blocks.push({ line: start + 1, commands });
  }
  return blocks;
}

/** A command as the runner executes it: `# exits N:` checks that exit status instead of 0. */
function checked(command: string, where: string): string {
  const expect = /#\s*exits (\d+):/.exec(command);
  const body = command.replace(/\s+#.*$/, '');
  const wanted = expect ? Number(expect[1]) : 0;
  const quoted = where.replace(/'/g, '');
  return `${body}\nrc=$?; if [ "$rc" != ${wanted} ]; then echo 'README ${quoted}: exited '"$rc"', expected ${wanted}' >&2; exit 1; fi`;
}

describe('README.md', () => {
  const work = mkdtempSync(join(tmpdir(), 'meshca-readme-'));
  afterAll(() => {
    spawnSync('bash', ['-c', `[ -f ${work}/serve.pid ] && kill $(cat ${work}/serve.pid)`]);
    rmSync(work, { recursive: true, force: true });
  });

  it('ok/every sh block runs as written, in order, against the built CLI', async () => {
    const [https, http] = [await freePort(), await freePort()];
    const bin = join(work, '.bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'ca'), `#!/bin/sh\nexec "${process.execPath}" "${CA_BIN}" "$@"\n`);
    chmodSync(join(bin, 'ca'), 0o755);
    const ports = (text: string) => text.replaceAll('127.0.0.1:8443', `127.0.0.1:${https}`).replaceAll('127.0.0.1:8080', `127.0.0.1:${http}`);
    const script: string[] = ['set -u -o pipefail'];
    let serving = false;
    const blocks = shellBlocks(readFileSync(README, 'utf8'));
    expect(blocks.length).toBeGreaterThan(3);
    for (const block of blocks) {
      const commands = block.commands.filter((c) => !/^(make |npm )|^make build && npm link/.test(c.trim()));
      if (!serving && commands.some((c) => c.includes('127.0.0.1:8443'))) {
        // "In one terminal `ca serve --dir ./my-ca`": here, in the background, on free ports.
        serving = true;
        script.push(`ca serve --dir ./my-ca --listen 127.0.0.1:${https} --http-listen 127.0.0.1:${http} > serve.log 2>&1 & echo $! > serve.pid`);
        script.push(`for i in $(seq 100); do curl -sf http://127.0.0.1:${http}/healthz > /dev/null && break; sleep 0.1; done`);
      }
      commands.forEach((c, n) => script.push(`echo '+ README line ${block.line}, command ${n + 1}' >&2`, checked(ports(c), `line ${block.line}: ${c.slice(0, 60)}`)));
    }
    writeFileSync(join(work, 'readme.sh'), script.join('\n'));
    const r = spawnSync('bash', [join(work, 'readme.sh')], { cwd: work, encoding: 'utf8', timeout: 120_000, env: { ...process.env, PATH: `${bin}:${dirname(process.execPath)}:${process.env.PATH}`, CA_PASSPHRASE: '', MESHCA_API_KEY: '', MESHCA_TOKEN: '' } });
    const tail = `${r.stderr.split('\n').slice(-15).join('\n')}\n--- serve.log ---\n${spawnSync('tail', ['-5', join(work, 'serve.log')], { encoding: 'utf8' }).stdout}`;
    expect(r.status, tail).toBe(0);
    expect(r.stderr, tail).not.toMatch(/^ca: .*\[ERR_/m);
    // Every command ran (the script stops at the first failure), the quick start's service among them.
    const ran = r.stderr.split('\n').filter((l) => l.startsWith('+ README line')).length;
    expect(ran).toBe(script.filter((l) => l.startsWith("echo '+ README line")).length);
    expect(ran).toBeGreaterThan(25);
    expect(serving).toBe(true);
    expect(readFileSync(join(work, 'renewed.json'), 'utf8')).toContain('"renewed"');
  }, 150_000);
});
