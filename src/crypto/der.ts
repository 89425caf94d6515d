// Lean DER (X.690) encoding and reading for the hot paths: certificates, CRLs and CSR checks built without an object model.

import { CaError } from '../errors.js';

/** Universal and context tags used by meshca's writers and readers. */
export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

function lengthBytes(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One TLV: `tag` followed by the DER length of `content` and `content`. */
export function tlv(tag: number, ...content: Buffer[]): Buffer {
  let length = 0;
  for (const c of content) length += c.length;
  const header = lengthBytes(length);
  // One copy per level, whatever the number of parts (a CRL's entries are megabytes).
  return Buffer.concat([Buffer.from([tag]), header, ...content], 1 + header.length + length);
}

export const seq = (...items: Buffer[]): Buffer => tlv(Tag.SEQUENCE, ...items);
export const set = (...items: Buffer[]): Buffer => tlv(Tag.SET, ...items);
export const octets = (b: Buffer): Buffer => tlv(Tag.OCTET_STRING, b);
export const nullValue = (): Buffer => Buffer.from([Tag.NULL, 0]);
export const bool = (v: boolean): Buffer => Buffer.from([Tag.BOOLEAN, 1, v ? 0xff : 0x00]);
/** A BIT STRING with `unused` trailing bits in the last byte. */
export const bitString = (b: Buffer, unused = 0): Buffer => tlv(Tag.BIT_STRING, Buffer.from([unused]), b);
/** `[n]` constructed (explicit tagging, or an implicitly tagged SEQUENCE). */
export const explicit = (n: number, ...items: Buffer[]): Buffer => tlv(0xa0 | n, ...items);
/** `[n]` primitive (implicit tagging of a primitive type). */
export const implicit = (n: number, content: Buffer): Buffer => tlv(0x80 | n, content);

/** A non-negative INTEGER from its big-endian magnitude (a leading zero is added when the top bit is set). */
export function unsignedInteger(magnitude: Buffer): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const m = magnitude.subarray(start);
  return (m[0]! & 0x80) !== 0 ? tlv(Tag.INTEGER, Buffer.from([0]), m) : tlv(Tag.INTEGER, m);
}

/** A small non-negative INTEGER (or ENUMERATED with `tag`). */
export function smallInteger(n: number, tag: number = Tag.INTEGER): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw new TypeError(`der: ${n} is not a non-negative safe integer`);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  if (bytes.length === 0 || (bytes[0]! & 0x80) !== 0) bytes.unshift(0);
  return tlv(tag, Buffer.from(bytes));
}

const oidCache = new Map<string, Buffer>();

/** An OBJECT IDENTIFIER from dotted form; encodings are cached since a handful of OIDs recur. */
export function oid(dotted: string): Buffer {
  const cached = oidCache.get(dotted);
  if (cached) return cached;
  const arcs = dotted.split('.').map((a) => Number(a));
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0)) throw new TypeError(`der: bad OID ${dotted}`);
  const out: number[] = [];
  const encodeArc = (v: number): void => {
    const chunk: number[] = [v & 0x7f];
    for (let r = Math.floor(v / 128); r > 0; r = Math.floor(r / 128)) chunk.unshift((r & 0x7f) | 0x80);
    out.push(...chunk);
  };
  encodeArc(arcs[0]! * 40 + arcs[1]!);
  for (const a of arcs.slice(2)) encodeArc(a);
  const encoded = tlv(Tag.OID, Buffer.from(out));
  oidCache.set(dotted, encoded);
  return encoded;
}

/** Decodes an OBJECT IDENTIFIER's content octets to dotted form. */
export function oidToString(content: Buffer): string {
  const arcs: number[] = [];
  let v = 0;
  for (const byte of content) {
    v = v * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      if (arcs.length === 0) {
        const first = v < 80 ? Math.floor(v / 40) : 2;
        arcs.push(first, v - first * 40);
      } else arcs.push(v);
      v = 0;
    }
  }
  return arcs.join('.');
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/**
 * RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, always whole seconds in UTC.
 */
export function time(date: Date): Buffer {
  const y = date.getUTCFullYear();
  const rest = `${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}Z`;
  if (y >= 1950 && y < 2050) return tlv(Tag.UTC_TIME, Buffer.from(`${pad(y % 100)}${rest}`, 'ascii'));
  return tlv(Tag.GENERALIZED_TIME, Buffer.from(`${pad(y, 4)}${rest}`, 'ascii'));
}

/** A DER element located inside a buffer. `value` is a view, not a copy. */
export interface DerElement {
  readonly tag: number;
  /** Offset of the tag byte in the buffer the element was read from. */
  readonly start: number;
  /** Offset one past the last content byte. */
  readonly end: number;
  readonly value: Buffer;
  /** The whole TLV, as a view. */
  readonly raw: Buffer;
}

function malformed(what: string): CaError {
  return new CaError('ERR_DER_INVALID', `der: ${what}`);
}

/** Reads the TLV at `offset` of `buf`, checking that it fits and uses definite, minimal-length form. */
export function readElement(buf: Buffer, offset = 0): DerElement {
  if (offset + 2 > buf.length) throw malformed('truncated element');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw malformed('multi-byte tags are not used in X.509');
  let len = buf[offset + 1]!;
  let header = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) throw malformed('indefinite length is not DER');
    if (n > 4) throw malformed('length too large');
    if (offset + 2 + n > buf.length) throw malformed('truncated length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[offset + 2 + i]!;
    if (len < 0x80 || buf[offset + 2] === 0) throw malformed('length not minimally encoded');
    header += n;
  }
  const valueStart = offset + header;
  const end = valueStart + len;
  if (end > buf.length) throw malformed('element longer than its container');
  return { tag, start: offset, end, value: buf.subarray(valueStart, end), raw: buf.subarray(offset, end) };
}

/** The elements directly inside a constructed element's value. */
export function children(value: Buffer): DerElement[] {
  const out: DerElement[] = [];
  for (let off = 0; off < value.length; ) {
    const el = readElement(value, off);
    out.push(el);
    off = el.end;
  }
  return out;
}

/** Reads exactly one element spanning all of `buf` with the expected tag. */
export function readWhole(buf: Buffer, tag: number, what: string): DerElement {
  const el = readElement(buf, 0);
  if (el.tag !== tag) throw malformed(`${what}: unexpected tag 0x${el.tag.toString(16)}`);
  if (el.end !== buf.length) throw malformed(`${what}: trailing data`);
  return el;
}

/** Expects `el` to carry `tag`, naming `what` in the error otherwise. */
export function expectTag(el: DerElement | undefined, tag: number, what: string): DerElement {
  if (!el) throw malformed(`${what} missing`);
  if (el.tag !== tag) throw malformed(`${what}: unexpected tag 0x${el.tag.toString(16)}`);
  return el;
}

/** Parses UTCTime or GeneralizedTime content (the forms DER allows: seconds, `Z`). */
export function readTime(el: DerElement): Date {
  const s = el.value.toString('ascii');
  let m: RegExpMatchArray | null;
  if (el.tag === Tag.UTC_TIME && (m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s))) {
    const yy = Number(m[1]);
    return new Date(Date.UTC(yy >= 50 ? 1900 + yy : 2000 + yy, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  }
  if (el.tag === Tag.GENERALIZED_TIME && (m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s))) {
    return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  }
  throw malformed('time is not a DER UTCTime or GeneralizedTime');
}

/** GeneralizedTime, whole seconds, UTC (OCSP always uses it, RFC 6960 §4.2.2.1). */
export function generalizedTime(date: Date): Buffer {
  const text = `${pad(date.getUTCFullYear(), 4)}${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}Z`;
  return tlv(Tag.GENERALIZED_TIME, Buffer.from(text, 'ascii'));
}
