import { describe, expect, it } from 'vitest';
import { NONCE_SECONDS, NonceBook, nonceKey } from '../../../src/acme/nonces.js';
import { addSeconds } from '../../../src/crypto/clock.js';
import { BACKENDS } from '../../helpers/databases.js';
import { T0, TEST_SEAL_KEY, settableClock, testStore } from '../../helpers/test-ca.js';

describe.each(BACKENDS)('ACME nonces on %s', (backend) => {
  it('ok/handed out without a write, spent once across two books on one store (replicas); fail/forged, altered, expired or from the future', async () => {
    const store = await testStore(backend);
    const clock = settableClock(T0);
    const key = nonceKey(TEST_SEAL_KEY, true);
    const [a, b] = [new NonceBook({ key, clock, store }), new NonceBook({ key, clock, store })];
    const nonce = a.issue();
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{27}$/);
    expect(new Set(Array.from({ length: 1000 }, () => a.issue())).size).toBe(1000);
    expect(await Promise.all([a.spend(nonce), b.spend(nonce)])).toEqual(expect.arrayContaining([true, false]));
    expect(await a.spend(nonce)).toBe(false);
    // Another CA's key, a changed byte, a truncated one, a non-canonical encoding: never spendable.
    expect(await new NonceBook({ key: nonceKey(Buffer.alloc(32, 9), true), clock, store }).spend(a.issue())).toBe(false);
    const fresh = a.issue();
    const raw = Buffer.from(fresh, 'base64url');
    raw[5]! ^= 1;
    expect(await a.spend(raw.toString('base64url'))).toBe(false);
    expect(await a.spend(fresh.slice(0, 20))).toBe(false);
    expect(await a.spend(`${fresh}=`)).toBe(false);
    expect(await a.spend('')).toBe(false);
    // Good for NONCE_SECONDS after it was handed out, not a second more.
    const late = a.issue();
    const last = a.issue();
    clock.set(addSeconds(T0, NONCE_SECONDS - 1));
    expect(await a.spend(last)).toBe(true);
    clock.set(addSeconds(T0, NONCE_SECONDS));
    expect(await a.spend(late)).toBe(false);
    const ahead = new NonceBook({ key, clock: settableClock(addSeconds(T0, 3 * NONCE_SECONDS)), store }).issue();
    expect(await a.spend(ahead)).toBe(false);
  });

  it('ok/where spent nonces are this process\'s alone, a new process refuses the nonces of the one before', async () => {
    const store = await testStore(backend);
    const clock = settableClock(T0);
    const before = new NonceBook({ key: nonceKey(TEST_SEAL_KEY, false), clock, store });
    const after = new NonceBook({ key: nonceKey(TEST_SEAL_KEY, false), clock, store });
    expect(await after.spend(before.issue())).toBe(false);
    expect(await after.spend(after.issue())).toBe(true);
  });
});
