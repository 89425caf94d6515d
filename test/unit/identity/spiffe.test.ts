import { describe, expect, it } from 'vitest';
import { parseSpiffeId, parseSpiffeIdIn, parseTrustDomain } from '../../../src/identity/spiffe.js';

describe('parseSpiffeId', () => {
  it.each([
    ['ok/simple', 'spiffe://acme.internal/api', 'acme.internal', '/api'],
    ['ok/nested', 'spiffe://acme.internal/ns/prod/sa/api-v2', 'acme.internal', '/ns/prod/sa/api-v2'],
    ['ok/underscore and dots', 'spiffe://td_1.example/a.b_c', 'td_1.example', '/a.b_c'],
  ])('%s', (_name, text, td, path) => {
    const id = parseSpiffeId(text);
    expect(id.trustDomain).toBe(td);
    expect(id.path).toBe(path);
    expect(id.uri).toBe(text);
  });

  it.each([
    ['fail/scheme', 'https://acme.internal/api', 'start with spiffe://'],
    ['fail/uppercase scheme', 'SPIFFE://acme.internal/api', 'start with spiffe://'],
    ['fail/no path', 'spiffe://acme.internal', 'needs a path'],
    ['fail/root path', 'spiffe://acme.internal/', 'empty path segments'],
    ['fail/trailing slash', 'spiffe://acme.internal/api/', 'empty path segments'],
    ['fail/query', 'spiffe://acme.internal/api?x=1', 'query and fragment'],
    ['fail/fragment', 'spiffe://acme.internal/api#x', 'query and fragment'],
    ['fail/port', 'spiffe://acme.internal:443/api', 'port'],
    ['fail/userinfo', 'spiffe://me@acme.internal/api', 'userinfo'],
    ['fail/uppercase domain', 'spiffe://Acme.internal/api', 'trust domain'],
    ['fail/dot segment', 'spiffe://acme.internal/a/../b', '".."'],
    ['fail/percent', 'spiffe://acme.internal/a%20b', 'path segment'],
    ['fail/empty domain', 'spiffe:///api', 'trust domain is missing'],
  ])('%s', (_name, text, why) => {
    expect(() => parseSpiffeId(text)).toThrow(expect.objectContaining({ code: 'ERR_SPIFFE_ID_INVALID', message: expect.stringContaining(why) }));
  });

  it('fail/too long', () => {
    expect(() => parseSpiffeId(`spiffe://a/${'x'.repeat(2100)}`)).toThrow(expect.objectContaining({ code: 'ERR_SPIFFE_ID_INVALID' }));
  });

  it('fail/outside the trust domain', () => {
    expect(() => parseSpiffeIdIn('spiffe://evil.internal/api', parseTrustDomain('acme.internal'))).toThrow(
      expect.objectContaining({ code: 'ERR_SPIFFE_ID_FOREIGN_TRUST_DOMAIN', message: expect.stringContaining('outside') }),
    );
  });

  it.each(['', 'Acme', 'a b', 'acme.internal/x', 'a:1'])('fail/trust domain %j', (td) => {
    expect(() => parseTrustDomain(td)).toThrow(expect.objectContaining({ code: 'ERR_TRUST_DOMAIN_INVALID' }));
  });
});
