// DNS names and IP addresses a leaf may carry, checked and normalized before they reach a certificate.

import { isIP } from 'node:net';
import { CaError } from '../errors.js';

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Parses a DNS name for a SAN: lowercase-normalized LDH labels of 1-63 characters, at most 253 in all,
 * no trailing dot. A leading `*.` label is accepted only when `allowWildcards` is set.
 *
 * @example
 * parseDnsName('API.acme.internal') // 'api.acme.internal'
 */
export function parseDnsName(text: string, options: { allowWildcards?: boolean } = {}): string {
  const name = text.toLowerCase();
  const fail = (why: string): never => {
    throw new CaError('ERR_DNS_NAME_INVALID', `identity: "${text}" is not a valid DNS name: ${why}`);
  };
  if (name.length === 0) fail('it is empty');
  if (name.length > 253) fail('longer than 253 characters');
  if (name.endsWith('.')) fail('remove the trailing dot');
  const labels = name.split('.');
  if (labels[0] === '*') {
    if (!options.allowWildcards) fail('wildcards are not allowed by this CA (config allowWildcards)');
    if (labels.length < 3) fail('a wildcard needs at least two labels after "*."');
    labels.shift();
  }
  for (const label of labels) {
    if (label === '') fail('empty label');
    if (!LABEL.test(label)) fail(`label "${label}" must be 1-63 letters, digits or inner hyphens`);
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) fail('the last label is numeric: use --ip for addresses');
  return name;
}

/** Parses an IPv4 or IPv6 address to its canonical text and the 4 or 16 bytes written into an iPAddress SAN. */
export function parseIpAddress(text: string): { text: string; bytes: Buffer } {
  // A zone (fe80::1%eth0) names an interface of one host; it has no meaning in a certificate.
  if (text.includes('%')) throw new CaError('ERR_IP_ADDRESS_INVALID', `identity: "${text}" carries a zone ID (%...), which a certificate cannot hold`);
  const version = isIP(text);
  if (version === 4) return { text, bytes: Buffer.from(text.split('.').map(Number)) };
  if (version === 6) {
    const bytes = ipv6Bytes(text);
    return { text: ipToText(bytes), bytes };
  }
  throw new CaError('ERR_IP_ADDRESS_INVALID', `identity: "${text}" is not an IPv4 or IPv6 address`);
}

function ipv6Bytes(text: string): Buffer {
  // isIP() has vetted the syntax; rewrite a trailing dotted IPv4 part as two hex groups, then expand "::".
  const s = text.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_m, a: string, b: string, c: string, d: string) =>
    `${((Number(a) << 8) | Number(b)).toString(16)}:${((Number(c) << 8) | Number(d)).toString(16)}`);
  const groups = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const [head, tail] = s.includes('::') ? s.split('::') as [string, string] : [s, undefined];
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

/** Text form of a 4- or 16-byte address (IPv6 compressed per RFC 5952). */
export function ipToText(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best === -1) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}
