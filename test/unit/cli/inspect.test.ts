// ca inspect describes meshca's own certificates without loading the x509 library, exactly as the library would.

import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeCertificateQuickly, describeCertificateWithLibrary } from '../../../src/cli/commands/inspect.js';
import { readPemLabelled } from '../../../src/crypto/pem.js';
import { createTestCa } from '../../helpers/test-ca.js';
import { generateKeyPair, spkiOf } from '../../../src/crypto/keys.js';

const EXAMPLE = join(import.meta.dirname, '../../../certs-example');

describe('ca inspect, fast path', () => {
  it('ok/every certificate meshca makes (P-256, P-384, Ed25519; root, intermediate, leaves) is described as the library describes it', async () => {
    const ders: Buffer[] = [];
    for (const dir of [join(EXAMPLE, 'ca'), join(EXAMPLE, 'services')]) {
      for (const f of readdirSync(dir).filter((n) => n.endsWith('.pem'))) {
        const text = readFileSync(join(dir, f), 'utf8');
        if (text.includes('BEGIN CERTIFICATE')) ders.push(...readPemLabelled(text, ['CERTIFICATE'], f));
      }
    }
    for (const keyType of ['ec-p384', 'ed25519'] as const) {
      const t = await createTestCa({ keyType });
      ders.push(t.authority.root.certificate.der, t.authority.intermediate.certificate.der);
      ders.push((await t.authority.issue({ commonName: 'api', spiffeId: 'spiffe://acme.internal/api', dnsNames: ['api.acme.internal'], ipAddresses: ['10.0.0.1', '2001:db8::1'], key: { spki: spkiOf(generateKeyPair(keyType).privateKey) } }, { actor: 'test' })).der);
    }
    expect(ders.length).toBeGreaterThan(8);
    for (const der of ders) {
      const quick = describeCertificateQuickly(der);
      expect(quick).toBeDefined();
      expect(quick).toEqual(await describeCertificateWithLibrary(der));
    }
  });

  it('fail/what the fast path does not know (RSA keys, unusual names) is left to the library', async () => {
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', '/dev/null', '-subj', '/CN=a\\, b/O=x+OU=y', '-days', '1', '-outform', 'PEM'], { encoding: 'utf8' });
    const der = readPemLabelled(r.stdout, ['CERTIFICATE'], 'openssl')[0]!;
    expect(describeCertificateQuickly(der)).toBeUndefined();
  });
});
