import { describe, expect, it } from 'vitest';
import { CONFIG_VERSION, parseCaConfig } from '../../../src/config/ca-config.js';

const base = { version: CONFIG_VERSION, name: 'Test CA', trustDomain: 'acme.internal', keyType: 'ec-p256', publicUrl: 'http://127.0.0.1:8080', defaultTtl: '24h', maxTtl: '72h', crlValidity: '24h', crlRetention: '7d', allowWildcards: false, encryptedKeys: false };

describe('config.json operators', () => {
  it('ok/none by default; a SPIFFE ID pattern in the trust domain with its scopes, stored typed', () => {
    expect(parseCaConfig(base, 'config.json').operators).toEqual([]);
    const [op] = parseCaConfig({ ...base, operators: [{ spiffeId: 'spiffe://acme.internal/operators/*', scopes: ['list', 'issue:spiffe://acme.internal/ns/**'] }] }, 'config.json').operators;
    expect(op!.scopes).toEqual(['list', 'issue:spiffe:spiffe://acme.internal/ns/**']);
    expect(op!.pattern.matches({ kind: 'spiffe', value: 'spiffe://acme.internal/operators/alice' })).toBe(true);
    expect(op!.pattern.matches({ kind: 'spiffe', value: 'spiffe://acme.internal/ns/alice' })).toBe(false);
  });

  it.each<[string, unknown, RegExp]>([
    ['fail/not a list', { spiffeId: 'spiffe://acme.internal/ops/*', scopes: ['list'] }, /"operators" is a list/],
    ['fail/no scopes', [{ spiffeId: 'spiffe://acme.internal/ops/*', scopes: [] }], /operators\[0\]/],
    ['fail/an unknown scope', [{ spiffeId: 'spiffe://acme.internal/ops/*', scopes: ['admin'] }], /operators\[0\].*unknown/],
    ['fail/another trust domain', [{ spiffeId: 'spiffe://evil.internal/ops/*', scopes: ['list'] }], /trust domain/],
    ['fail/not a SPIFFE ID pattern', [{ spiffeId: 'ops.acme.internal', scopes: ['list'] }], /operators\[0\]/],
  ])('%s', (_n, operators, message) => {
    expect(() => parseCaConfig({ ...base, operators }, 'config.json')).toThrow(message);
  });
});
