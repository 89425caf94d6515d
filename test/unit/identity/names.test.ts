import { describe, expect, it } from 'vitest';
import { ipToText, parseDnsName, parseIpAddress } from '../../../src/identity/names.js';

describe('parseDnsName', () => {
  it.each([
    ['ok/plain', 'api.acme.internal', 'api.acme.internal'],
    ['ok/single label', 'localhost', 'localhost'],
    ['ok/lowercased', 'API.Acme.Internal', 'api.acme.internal'],
    ['ok/hyphen and digits', 'a-1.b2.internal', 'a-1.b2.internal'],
  ])('%s', (_n, text, out) => expect(parseDnsName(text)).toBe(out));

  it.each([
    ['fail/empty', ''],
    ['fail/trailing dot', 'api.internal.'],
    ['fail/empty label', 'api..internal'],
    ['fail/underscore', 'my_api.internal'],
    ['fail/leading hyphen', '-api.internal'],
    ['fail/space', 'api internal'],
    ['fail/label too long', `${'a'.repeat(64)}.internal`],
    ['fail/name too long', `${'a.'.repeat(127)}aa`],
    ['fail/numeric tld', '10.0.0.1'],
    ['fail/wildcard not allowed', '*.acme.internal'],
    ['fail/unicode', 'bücher.internal'],
  ])('%s', (_n, text) => expect(() => parseDnsName(text)).toThrow(expect.objectContaining({ code: 'ERR_DNS_NAME_INVALID' })));

  it('ok/wildcard when allowed, only leftmost', () => {
    expect(parseDnsName('*.acme.internal', { allowWildcards: true })).toBe('*.acme.internal');
    expect(() => parseDnsName('a.*.internal', { allowWildcards: true })).toThrow(expect.objectContaining({ code: 'ERR_DNS_NAME_INVALID' }));
    expect(() => parseDnsName('*.internal', { allowWildcards: true })).toThrow(expect.objectContaining({ code: 'ERR_DNS_NAME_INVALID' }));
  });
});

describe('parseIpAddress', () => {
  it.each([
    ['10.0.0.1', '0a000001', '10.0.0.1'],
    ['::1', '00000000000000000000000000000001', '::1'],
    ['2001:db8::8:800:200c:417a', '20010db8000000000008080020 0c417a'.replace(' ', ''), '2001:db8::8:800:200c:417a'],
    ['::ffff:192.0.2.1', '00000000000000000000ffffc0000201', '::ffff:c000:201'],
    ['fe80:0:0:0:0:0:0:1', 'fe800000000000000000000000000001', 'fe80::1'],
  ])('ok/%s', (text, hex, canonical) => {
    const ip = parseIpAddress(text);
    expect(ip.bytes.toString('hex')).toBe(hex);
    expect(ip.text).toBe(canonical);
    expect(ipToText(ip.bytes)).toBe(canonical);
  });

  it.each(['256.0.0.1', '1.2.3', 'localhost', '::g', '', 'fd00::1%eth0', '::ffff:10.0.0.1%1', '1:2:3:4:5:6:7:8%:9', 'fd00::1%:1:1:1:1:1:1:1:1'])('fail/%j', (text) => {
    expect(() => parseIpAddress(text)).toThrow(expect.objectContaining({ code: 'ERR_IP_ADDRESS_INVALID' }));
  });
});
