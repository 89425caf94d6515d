import { describe, expect, it } from 'vitest';
import { eabSealingKey, newEabCredentials, sealEabKey } from '../../../src/acme/eab-keys.js';
import type { AcmeRequest } from '../../../src/acme/jws.js';
import { AcmeOrders } from '../../../src/acme/orders.js';
import { DEFAULT_VALIDATION_ROUTE } from '../../../src/acme/validation.js';
import { addSeconds } from '../../../src/crypto/clock.js';
import { T0, TEST_SEAL_KEY, createTestCa } from '../../helpers/test-ca.js';

const audit = (action: string) => ({ at: T0, actor: 'local:test', action, target: null, outcome: 'ok' as const });

/** A CA with an account bound to an EAB key for *.acme.internal, and an order for web.acme.internal. */
async function withOrder() {
  const t = await createTestCa();
  const made = newEabCredentials();
  await t.store.createEabKey({ kid: made.kid, name: 'web', scopes: ['issue:dns:*.acme.internal'], sealedKey: sealEabKey(eabSealingKey(TEST_SEAL_KEY), made.kid, made.hmacKey), createdAt: T0, expiresAt: addSeconds(T0, 86400), revokedAt: null, lastUsedAt: null }, audit('acme-eab-create'));
  const { account } = await t.store.createAcmeAccount({ id: 'acct-1', thumbprint: 'tp-1', jwk: '{}', status: 'valid', contact: [], eabKid: made.kid, createdAt: T0 }, audit('acme-new-account'));
  const orders = new AcmeOrders({ store: t.store, authority: t.authority, clock: t.clock, route: DEFAULT_VALIDATION_ROUTE });
  const request = (payload: Record<string, unknown>) => ({ payload }) as unknown as AcmeRequest;
  const { order, authorizations } = await orders.newOrder(request({ identifiers: [{ type: 'dns', value: 'web.acme.internal' }] }), account);
  return { t, orders, account, order, authz: authorizations[0]!, request };
}

describe('ACME orders', () => {
  it('ok/an open order past its expiry reads invalid (stored so), its authorization expired; fail/finalize and challenge responses refused', async () => {
    const { t, orders, account, order, authz, request } = await withOrder();
    expect((await orders.order(account, order.id)).status).toBe('pending');
    const { challenges } = await orders.authorization(account, authz.id);
    t.clock.set(addSeconds(order.expiresAt, 1));
    const expired = await orders.order(account, order.id);
    expect(expired.status).toBe('invalid');
    expect(JSON.parse(expired.error!)).toMatchObject({ type: 'urn:ietf:params:acme:error:malformed', detail: expect.stringMatching(/expired/) });
    expect((await t.store.findAcmeOrder(order.id))!.status).toBe('invalid');
    expect((await orders.authorization(account, authz.id)).authorization.status).toBe('expired');
    await expect(orders.respond(account, challenges[0]!.id)).rejects.toMatchObject({ type: 'malformed', message: expect.stringMatching(/expired/) });
    await expect(orders.finalize(request({ csr: 'AA' }), account, order.id)).rejects.toMatchObject({ type: 'orderNotReady', message: expect.stringMatching(/invalid/) });
  });

  it('fail/another account sees no order, authorization or challenge of this one', async () => {
    const { t, orders, order, authz } = await withOrder();
    const other = { id: 'acct-2', thumbprint: 'tp-2', jwk: '{}', status: 'valid' as const, contact: [], eabKid: 'x', createdAt: T0 };
    const { challenges } = await orders.authorization((await t.store.findAcmeAccount('acct-1'))!, authz.id);
    await expect(orders.order(other, order.id)).rejects.toMatchObject({ type: 'malformed' });
    await expect(orders.authorization(other, authz.id)).rejects.toMatchObject({ type: 'malformed' });
    await expect(orders.challenge(other, challenges[0]!.id)).rejects.toMatchObject({ type: 'malformed' });
    await expect(orders.respond(other, challenges[0]!.id)).rejects.toMatchObject({ type: 'malformed' });
    await expect(orders.certificatePem(other, order.id)).rejects.toMatchObject({ type: 'malformed' });
  });
});

describe('ACME validation', () => {
  it('ok/at most 32 validations connect at once; the rest wait their turn and are all made', async () => {
    const { createServer } = await import('node:http');
    const { once } = await import('node:events');
    let open = 0;
    let most = 0;
    let seen = 0;
    const server = createServer((_req, res) => {
      open++;
      seen++;
      most = Math.max(most, open);
      setTimeout(() => {
        open--;
        res.writeHead(404).end();
      }, 150);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const t = await createTestCa();
      const made = newEabCredentials();
      await t.store.createEabKey({ kid: made.kid, name: 'web', scopes: ['issue:dns:*.acme.internal'], sealedKey: sealEabKey(eabSealingKey(TEST_SEAL_KEY), made.kid, made.hmacKey), createdAt: T0, expiresAt: addSeconds(T0, 86400), revokedAt: null, lastUsedAt: null }, audit('acme-eab-create'));
      const { account } = await t.store.createAcmeAccount({ id: 'acct-1', thumbprint: 'tp-1', jwk: '{}', status: 'valid', contact: [], eabKid: made.kid, createdAt: T0 }, audit('acme-new-account'));
      const names = Array.from({ length: 50 }, (_, i) => `n${i}.acme.internal`);
      const route = { resolve: Object.fromEntries(names.map((n) => [n, '127.0.0.1'])), ports: { http01: (server.address() as import('node:net').AddressInfo).port, tlsAlpn01: 1 }, timeoutMs: 5_000 };
      const orders = new AcmeOrders({ store: t.store, authority: t.authority, clock: t.clock, route, attempts: 1 });
      const challenges: string[] = [];
      for (let i = 0; i < names.length; i += 10) {
        const { authorizations } = await orders.newOrder({ payload: { identifiers: names.slice(i, i + 10).map((value) => ({ type: 'dns', value })) } } as unknown as AcmeRequest, account);
        for (const a of authorizations) challenges.push((await orders.authorization(account, a.id)).challenges.find((c) => c.type === 'http-01')!.id);
      }
      await Promise.all(challenges.map((id) => orders.respond(account, id)));
      // Fifty at once is this account's share: a fifty-first waits until they are done.
      const { authorizations: extra } = await orders.newOrder({ payload: { identifiers: [{ type: 'dns', value: 'extra.acme.internal' }] } } as unknown as AcmeRequest, account);
      const extraChallenge = (await orders.authorization(account, extra[0]!.id)).challenges.find((c) => c.type === 'http-01')!.id;
      await expect(orders.respond(account, extraChallenge)).rejects.toMatchObject({ type: 'rateLimited', status: 429 });
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline && (await Promise.all(challenges.map(async (id) => (await orders.challenge(account, id)).status))).some((s) => s === 'processing')) await new Promise((r) => setTimeout(r, 100));
      expect(seen).toBe(50);
      expect(most).toBeLessThanOrEqual(32);
      expect(most).toBeGreaterThan(1);
      expect(new Set(await Promise.all(challenges.map(async (id) => (await orders.challenge(account, id)).status)))).toEqual(new Set(['invalid']));
    } finally {
      server.close();
    }
  }, 30_000);
});
