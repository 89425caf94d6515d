// ACME anti-replay nonces (RFC 8555 §6.5): handed out with no write (the issue time, sealed by an HMAC), spent once through the store.

import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../crypto/clock.js';
import type { AcmeStore } from './ports.js';

/** How long a nonce stays good: clients spend theirs within seconds; a late one is badNonce, and they retry. */
export const NONCE_SECONDS = 900;
const TIME_BYTES = 4;
const RANDOM_BYTES = 8;
const MAC_BYTES = 8;

/**
 * The key nonces are sealed with, from the CA's seal key (the same on every replica). Where the store remembers
 * spent nonces only for this process (`durable` false), the key is this process's alone, so a nonce handed out before
 * a restart, which the new process could not know was spent, is refused rather than accepted twice.
 */
export function nonceKey(sealingKey: Buffer, durable: boolean): Buffer {
  const scope = durable ? Buffer.alloc(0) : randomBytes(16);
  return Buffer.from(hkdfSync('sha256', sealingKey, scope, 'meshca acme nonce', 32));
}

export class NonceBook {
  constructor(private readonly o: { key: Buffer; clock: Clock; store: Pick<AcmeStore, 'spendNonce'> }) {}

  /** A fresh nonce: its issue time and 64 random bits, MAC'd; nothing is stored until it is spent. */
  issue(): string {
    const body = Buffer.alloc(TIME_BYTES + RANDOM_BYTES);
    body.writeUInt32BE(Math.floor(this.o.clock.now().getTime() / 1000) >>> 0, 0);
    randomBytes(RANDOM_BYTES).copy(body, TIME_BYTES);
    return Buffer.concat([body, this.mac(body)]).toString('base64url');
  }

  /** True exactly once for a nonce this CA (this key) handed out less than NONCE_SECONDS ago, whichever replica asks. */
  async spend(nonce: string): Promise<boolean> {
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== TIME_BYTES + RANDOM_BYTES + MAC_BYTES || raw.toString('base64url') !== nonce) return false;
    const body = raw.subarray(0, TIME_BYTES + RANDOM_BYTES);
    if (!timingSafeEqual(raw.subarray(TIME_BYTES + RANDOM_BYTES), this.mac(body))) return false;
    const now = this.o.clock.now();
    const issued = body.readUInt32BE(0);
    const nowSeconds = Math.floor(now.getTime() / 1000);
    if (issued > nowSeconds + 5 || nowSeconds - issued >= NONCE_SECONDS) return false;
    return this.o.store.spendNonce(nonce, new Date((issued + NONCE_SECONDS) * 1000), now);
  }

  private mac(body: Buffer): Buffer {
    return createHmac('sha256', this.o.key).update(body).digest().subarray(0, MAC_BYTES);
  }
}
