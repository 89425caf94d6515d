import { describe, expect, it } from 'vitest';
import { eabSealingKey, newEabCredentials, openEabKey, sealEabKey } from '../../../src/acme/eab-keys.js';
import type { EabKeyRecord } from '../../../src/acme/ports.js';
import { addSeconds } from '../../../src/crypto/clock.js';
import { BACKENDS } from '../../helpers/databases.js';
import { T0, TEST_SEAL_KEY, testStore } from '../../helpers/test-ca.js';

const audit = (action: string) => ({ at: T0, actor: 'local:test', action, target: null, outcome: 'ok' as const });

describe.each(BACKENDS)('the ACME store on %s', (backend) => {
  it('ok/EAB keys: stored sealed, found, listed, revoked once; one unrevoked key per name', async () => {
    const store = await testStore(backend);
    const sealing = eabSealingKey(TEST_SEAL_KEY);
    const made = newEabCredentials();
    const record: EabKeyRecord = { kid: made.kid, name: 'ingress', scopes: ['issue:dns:*.acme.internal'], sealedKey: sealEabKey(sealing, made.kid, made.hmacKey), createdAt: T0, expiresAt: addSeconds(T0, 86400), revokedAt: null, lastUsedAt: null };
    await store.createEabKey(record, audit('acme-eab-create'));
    const found = await store.findEabKey(made.kid);
    expect(found).toEqual(record);
    expect(openEabKey(sealing, made.kid, found!.sealedKey)).toEqual(made.hmacKey);
    await expect(store.createEabKey({ ...record, kid: newEabCredentials().kid }, audit('acme-eab-create'))).rejects.toMatchObject({ code: 'ERR_EAB_NAME_TAKEN' });
    expect((await store.listEabKeys()).map((k) => k.name)).toEqual(['ingress']);
    expect(await store.revokeEabKey('ingress', addSeconds(T0, 60), audit('acme-eab-revoke'))).toMatchObject({ kid: made.kid, revokedAt: addSeconds(T0, 60) });
    expect(await store.revokeEabKey('ingress', addSeconds(T0, 61), audit('acme-eab-revoke'))).toBeUndefined();
    // The name is free again once revoked.
    await store.createEabKey({ ...record, kid: newEabCredentials().kid }, audit('acme-eab-create'));
    expect(await store.findEabKey('eab_nope')).toBeUndefined();
    expect((await store.auditLog()).map((r) => r.action)).toEqual(['acme-eab-create', 'acme-eab-revoke', 'acme-eab-create']);
    expect((await store.verifyAuditChain()).ok).toBe(true);
  });

  it('ok/accounts: one per key, found by id and thumbprint, deactivated and rekeyed; fail/a key another account holds', async () => {
    const store = await testStore(backend);
    const made = newEabCredentials();
    await store.createEabKey({ kid: made.kid, name: 'a', scopes: ['issue:dns:*.acme.internal'], sealedKey: sealEabKey(eabSealingKey(TEST_SEAL_KEY), made.kid, made.hmacKey), createdAt: T0, expiresAt: addSeconds(T0, 86400), revokedAt: null, lastUsedAt: null }, audit('acme-eab-create'));
    const account = { id: 'acct-1', thumbprint: 'tp-1', jwk: '{"kty":"EC"}', status: 'valid' as const, contact: ['mailto:ops@acme.internal'], eabKid: made.kid, createdAt: addSeconds(T0, 10) };
    expect(await store.createAcmeAccount(account, audit('acme-account'))).toEqual({ account, created: true });
    expect((await store.findEabKey(made.kid))!.lastUsedAt).toEqual(addSeconds(T0, 10));
    expect(await store.createAcmeAccount({ ...account, id: 'acct-2' }, audit('acme-account'))).toEqual({ account, created: false });
    await store.createAcmeAccount({ ...account, id: 'acct-3', thumbprint: 'tp-3' }, audit('acme-account'));
    expect(await store.findAcmeAccount('acct-1')).toEqual(account);
    expect(await store.findAcmeAccountByThumbprint('tp-3')).toMatchObject({ id: 'acct-3' });
    await expect(store.updateAcmeAccount('acct-1', { thumbprint: 'tp-3', jwk: '{}' }, audit('acme-key-change'))).rejects.toMatchObject({ code: 'ERR_ACME_KEY_IN_USE' });
    expect(await store.updateAcmeAccount('acct-1', { thumbprint: 'tp-9', jwk: '{"kty":"OKP"}' }, audit('acme-key-change'))).toMatchObject({ thumbprint: 'tp-9' });
    expect(await store.updateAcmeAccount('acct-1', { status: 'deactivated' }, audit('acme-deactivate'))).toMatchObject({ status: 'deactivated', thumbprint: 'tp-9' });
    expect(await store.updateAcmeAccount('nope', { status: 'deactivated' }, audit('acme-deactivate'))).toBeUndefined();
    expect((await store.auditLog()).map((r) => r.action)).toEqual(['acme-eab-create', 'acme-account', 'acme-account', 'acme-key-change', 'acme-deactivate']);
  });

  it('ok/orders with their authorizations and challenges; a challenge and an order change only from the status asked', async () => {
    const store = await testStore(backend);
    const made = newEabCredentials();
    await store.createEabKey({ kid: made.kid, name: 'a', scopes: [], sealedKey: sealEabKey(eabSealingKey(TEST_SEAL_KEY), made.kid, made.hmacKey), createdAt: T0, expiresAt: addSeconds(T0, 86400), revokedAt: null, lastUsedAt: null }, audit('acme-eab-create'));
    await store.createAcmeAccount({ id: 'acct', thumbprint: 'tp', jwk: '{}', status: 'valid', contact: [], eabKid: made.kid, createdAt: T0 }, audit('acme-account'));
    const order = { id: 'o1', accountId: 'acct', status: 'pending' as const, identifiers: [{ type: 'dns' as const, value: 'a.acme.internal' }], createdAt: T0, expiresAt: addSeconds(T0, 3600), error: null, certificateSerial: null };
    const authz = { id: 'z1', orderId: 'o1', accountId: 'acct', identifier: order.identifiers[0]!, status: 'pending' as const, expiresAt: addSeconds(T0, 3600) };
    const challenges = [{ id: 'c1', authorizationId: 'z1', type: 'http-01' as const, token: 't1', status: 'pending' as const, validatedAt: null, error: null }, { id: 'c2', authorizationId: 'z1', type: 'tls-alpn-01' as const, token: 't2', status: 'pending' as const, validatedAt: null, error: null }];
    await store.createAcmeOrder(order, [authz], challenges, audit('acme-new-order'));
    expect(await store.findAcmeOrder('o1')).toEqual(order);
    expect(await store.listAcmeOrders('acct', 10)).toEqual([order]);
    expect(await store.acmeAuthorizationsOf('o1')).toEqual([authz]);
    expect(await store.findAcmeAuthorization('z1')).toEqual(authz);
    expect(await store.acmeChallengesOf('z1')).toEqual(challenges);
    // Two validations racing for one challenge: one takes it.
    const took = await Promise.all([store.updateAcmeChallenge('c1', { status: 'processing' }, 'pending'), store.updateAcmeChallenge('c1', { status: 'processing' }, 'pending')]);
    expect(took.filter(Boolean)).toHaveLength(1);
    expect(await store.updateAcmeChallenge('c1', { status: 'valid', validatedAt: addSeconds(T0, 5) }, 'processing')).toBe(true);
    expect(await store.findAcmeChallenge('c1')).toMatchObject({ status: 'valid', validatedAt: addSeconds(T0, 5), error: null });
    await store.updateAcmeAuthorization('z1', 'valid');
    expect((await store.findAcmeAuthorization('z1'))!.status).toBe('valid');
    expect(await store.updateAcmeOrder('o1', { status: 'processing' }, 'pending')).toMatchObject({ status: 'processing' });
    expect(await store.updateAcmeOrder('o1', { status: 'processing' }, 'ready')).toBeUndefined();
    expect(await store.updateAcmeOrder('o1', { status: 'valid', certificateSerial: 'ab' })).toMatchObject({ status: 'valid', certificateSerial: 'ab' });
    expect(await store.findAcmeOrder('nope')).toBeUndefined();
  });

  it('ok/a validation settles the challenge, its authorization and the order together, once; the order is ready only when all its authorizations are', async () => {
    const store = await testStore(backend);
    const made = newEabCredentials();
    await store.createEabKey({ kid: made.kid, name: 'a', scopes: [], sealedKey: sealEabKey(eabSealingKey(TEST_SEAL_KEY), made.kid, made.hmacKey), createdAt: T0, expiresAt: addSeconds(T0, 86400), revokedAt: null, lastUsedAt: null }, audit('acme-eab-create'));
    await store.createAcmeAccount({ id: 'acct', thumbprint: 'tp', jwk: '{}', status: 'valid', contact: [], eabKid: made.kid, createdAt: T0 }, audit('acme-account'));
    const orderOf = async (id: string, names: string[]) => {
      const identifiers = names.map((value) => ({ type: 'dns' as const, value }));
      const authz = identifiers.map((identifier, i) => ({ id: `${id}-z${i}`, orderId: id, accountId: 'acct', identifier, status: 'pending' as const, expiresAt: addSeconds(T0, 3600) }));
      const challenges = authz.map((a) => ({ id: `${a.id}-c`, authorizationId: a.id, type: 'http-01' as const, token: `${a.id}-t`, status: 'processing' as const, validatedAt: null, error: null }));
      await store.createAcmeOrder({ id, accountId: 'acct', status: 'pending', identifiers, createdAt: T0, expiresAt: addSeconds(T0, 3600), error: null, certificateSerial: null }, authz, challenges, audit('acme-new-order'));
      return authz.map((a) => ({ challengeId: `${a.id}-c`, authorizationId: a.id, orderId: id }));
    };
    const [first, second] = await orderOf('two', ['a.acme.internal', 'b.acme.internal']);
    const valid = { valid: true as const, at: addSeconds(T0, 5) };
    expect(await store.settleAcmeChallenge(first!, valid)).toBe(true);
    expect(await store.findAcmeChallenge(first!.challengeId)).toMatchObject({ status: 'valid', validatedAt: addSeconds(T0, 5) });
    expect((await store.findAcmeAuthorization(first!.authorizationId))!.status).toBe('valid');
    expect((await store.findAcmeOrder('two'))!.status).toBe('pending');
    // Settled already (another replica did): nothing changes.
    expect(await store.settleAcmeChallenge(first!, { valid: false, error: '{}' })).toBe(false);
    expect(await store.settleAcmeChallenge(second!, valid)).toBe(true);
    expect((await store.findAcmeOrder('two'))!.status).toBe('ready');
    const [failing] = await orderOf('bad', ['c.acme.internal']);
    expect(await store.settleAcmeChallenge(failing!, { valid: false, error: '{"type":"urn:ietf:params:acme:error:connection"}' })).toBe(true);
    expect(await store.findAcmeOrder('bad')).toMatchObject({ status: 'invalid', error: '{"type":"urn:ietf:params:acme:error:connection"}' });
    expect((await store.findAcmeAuthorization(failing!.authorizationId))!.status).toBe('invalid');
    expect(await store.findAcmeChallenge(failing!.challengeId)).toMatchObject({ status: 'invalid', validatedAt: null });
  });

  it('ok/open orders are capped per account; an order is found by its certificate; expired orders without one are pruned; keyChange compares the key it replaces', async () => {
    const store = await testStore(backend);
    const made = newEabCredentials();
    await store.createEabKey({ kid: made.kid, name: 'a', scopes: [], sealedKey: sealEabKey(eabSealingKey(TEST_SEAL_KEY), made.kid, made.hmacKey), createdAt: T0, expiresAt: addSeconds(T0, 86400), revokedAt: null, lastUsedAt: null }, audit('acme-eab-create'));
    await store.createAcmeAccount({ id: 'acct', thumbprint: 'tp', jwk: '{}', status: 'valid', contact: [], eabKid: made.kid, createdAt: T0 }, audit('acme-account'));
    const order = (id: string, at: Date) => ({ id, accountId: 'acct', status: 'pending' as const, identifiers: [{ type: 'dns' as const, value: 'a.acme.internal' }], createdAt: at, expiresAt: addSeconds(at, 3600), error: null, certificateSerial: null });
    const authz = (id: string, at: Date) => [{ id: `${id}-z`, orderId: id, accountId: 'acct', identifier: { type: 'dns' as const, value: 'a.acme.internal' }, status: 'pending' as const, expiresAt: addSeconds(at, 3600) }];
    const chall = (id: string) => [{ id: `${id}-c`, authorizationId: `${id}-z`, type: 'http-01' as const, token: `${id}-t`, status: 'pending' as const, validatedAt: null, error: null }];
    for (const id of ['o1', 'o2']) await store.createAcmeOrder(order(id, T0), authz(id, T0), chall(id), audit('acme-new-order'), 2);
    await expect(store.createAcmeOrder(order('o3', T0), authz('o3', T0), chall('o3'), audit('acme-new-order'), 2)).rejects.toMatchObject({ code: 'ERR_ACME_TOO_MANY_ORDERS' });
    // Once those have expired, the account may order again.
    const later = addSeconds(T0, 3601);
    await store.createAcmeOrder(order('o4', later), authz('o4', later), chall('o4'), audit('acme-new-order'), 2);
    await store.updateAcmeOrder('o1', { status: 'valid', certificateSerial: 'abcd' });
    expect(await store.acmeOrderOfCertificate('abcd')).toMatchObject({ id: 'o1', accountId: 'acct' });
    expect(await store.acmeOrderOfCertificate('ffff')).toBeUndefined();
    // Pruned: o2 (expired, no certificate); kept: o1 (its certificate) and o4 (not expired).
    expect(await store.pruneAcmeOrders(addSeconds(T0, 3700), 10)).toBe(1);
    expect(await store.findAcmeOrder('o2')).toBeUndefined();
    expect(await store.findAcmeChallenge('o2-c')).toBeUndefined();
    expect(await store.findAcmeAuthorization('o2-z')).toBeUndefined();
    expect((await store.findAcmeOrder('o1'))!.certificateSerial).toBe('abcd');
    expect(await store.findAcmeOrder('o4')).toBeDefined();
    // keyChange from the key it replaces: a second change from the same old key loses.
    expect(await store.updateAcmeAccount('acct', { thumbprint: 'tp-2', jwk: '{"k":2}' }, audit('acme-key-change'), 'tp')).toMatchObject({ thumbprint: 'tp-2' });
    await expect(store.updateAcmeAccount('acct', { thumbprint: 'tp-3', jwk: '{"k":3}' }, audit('acme-key-change'), 'tp')).rejects.toMatchObject({ code: 'ERR_ACME_KEY_CHANGED' });
    expect((await store.findAcmeAccount('acct'))!.thumbprint).toBe('tp-2');
  });

  it('ok/a nonce is spent exactly once, racing or not (a handed-out nonce is the nonce book\'s to check, see nonces.test)', async () => {
    const store = await testStore(backend);
    const raced = await Promise.all([store.spendNonce('n-1', addSeconds(T0, 60), T0), store.spendNonce('n-1', addSeconds(T0, 60), T0)]);
    expect(raced.filter(Boolean)).toHaveLength(1);
    expect(await store.spendNonce('n-1', addSeconds(T0, 60), T0)).toBe(false);
    expect(await store.spendNonce('n-2', addSeconds(T0, 60), T0)).toBe(true);
    // Once past their expiry, spent nonces are pruned as others are spent (the book no longer accepts them anyway).
    for (let i = 0; i < 3; i++) await store.spendNonce(`later-${i}`, addSeconds(T0, 7200), addSeconds(T0, 3600));
    expect(await store.spendNonce('n-1', addSeconds(T0, 60), addSeconds(T0, 3600))).toBe(true);
  });
});
