// Fuzzing ACME request verification: whatever the body, the answer is an ACME problem (a 4xx), never a crash or a 5xx.

import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { exportJWK, FlattenedSign } from 'jose';
import { describe, expect, it } from 'vitest';
import { verifyAcmeRequest } from '../../../src/acme/jws.js';
import { AcmeProblem } from '../../../src/acme/problem.js';

const RUNS = Number(process.env.MESHCA_FUZZ_RUNS ?? 60) * 5;
const URL_ = 'https://ca.test/acme/new-account';
const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });

const options = { url: URL_, keyMode: 'either' as const, accountKey: async () => undefined, consumeNonce: async () => true };

/** A valid request, to mutate. */
const valid = await new FlattenedSign(new TextEncoder().encode('{}')).setProtectedHeader({ alg: 'ES256', url: URL_, nonce: 'n', jwk: await exportJWK(key.publicKey) } as never).sign(key.privateKey);

async function outcome(body: unknown): Promise<'ok' | 'problem'> {
  try {
    await verifyAcmeRequest(body, options);
    return 'ok';
  } catch (e) {
    if (e instanceof AcmeProblem && e.status < 500) return 'problem';
    throw e;
  }
}

const b64 = fc.oneof(fc.base64String(), fc.string(), fc.constant(''), fc.json().map((j) => Buffer.from(j).toString('base64url')));

describe('ACME request verification under fuzzing', () => {
  it('ok/arbitrary JSON bodies are problems, never crashes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (body) => {
        expect(await outcome(body)).toBe('problem');
      }),
      { numRuns: RUNS },
    );
  });

  it('ok/a valid request with any member replaced is a problem (or, unchanged in meaning, accepted)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('protected', 'payload', 'signature'), b64, async (member, value) => {
        const body = { ...valid, [member]: value };
        expect(['ok', 'problem']).toContain(await outcome(body));
      }),
      { numRuns: RUNS },
    );
  });

  it('ok/protected headers of any shape are problems', async () => {
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.constantFrom('alg', 'url', 'nonce', 'jwk', 'kid', 'x'), fc.jsonValue()), async (header) => {
        const body = { ...valid, protected: Buffer.from(JSON.stringify(header)).toString('base64url') };
        expect(await outcome(body)).toBe('problem');
      }),
      { numRuns: RUNS },
    );
  });
});
