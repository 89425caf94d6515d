// The signing pool runs the compiled worker (dist/), as `ca serve` does; `make test` builds it first.
import { describe, expect, it } from 'vitest';
import { x509 } from '../../../src/crypto/x509.js';
import { publicationUrls } from '../../../src/pki/profile.js';
import { createTestCa, T0 } from '../../helpers/test-ca.js';
import { makeCsr } from '../../helpers/csr.js';

const dist = '../../../dist/src/authority/signing-pool.js';

describe('SigningPool (worker threads)', () => {
  it('ok/signs a linted leaf for a CSR on a worker; fail/errors come back as CaErrors with their codes', async () => {
    const { SigningPool } = (await import(dist)) as typeof import('../../../src/authority/signing-pool.js');
    expect(SigningPool.available()).toBe(true);
    const { authority } = await createTestCa();
    const inter = authority.intermediate;
    const pool = await SigningPool.start(
      1,
      { issuerDer: inter.certificate.der, issuerKey: inter.key, policy: { trustDomain: authority.trustDomain, defaultTtlSeconds: 3600, maxTtlSeconds: 86400, allowWildcards: false, backdateSeconds: 60 }, urls: publicationUrls('http://127.0.0.1:8080') },
      () => T0,
    );
    try {
      const csr = (await makeCsr()).der;
      const entry = await pool.sign({ commonName: 'api', spiffeId: 'spiffe://acme.internal/api', key: { csr } }, { actor: 'apikey:t' }, {});
      expect(Buffer.isBuffer(entry.record.der)).toBe(true);
      expect(entry.record.notBefore.getTime()).toBe(T0.getTime() - 60_000);
      expect(entry.audit).toMatchObject({ actor: 'apikey:t', action: 'issue', target: entry.record.serial });
      const cert = new x509.X509Certificate(entry.record.der);
      expect(await cert.verify({ publicKey: new x509.X509Certificate(inter.certificate.der).publicKey, signatureOnly: true })).toBe(true);

      const bad = Buffer.from(csr);
      bad[bad.length - 5]! ^= 0xff;
      await expect(pool.sign({ commonName: 'x', dnsNames: ['x.acme.internal'], key: { csr: bad } }, { actor: 'a' }, {})).rejects.toMatchObject({ name: 'CaError', code: 'ERR_CSR_SIGNATURE' });
      await expect(pool.sign({ commonName: 'x', spiffeId: 'spiffe://other.internal/x', key: { csr } }, { actor: 'a' }, {})).rejects.toMatchObject({ code: 'ERR_SPIFFE_ID_FOREIGN_TRUST_DOMAIN' });
    } finally {
      await pool.close();
    }
  });
});
