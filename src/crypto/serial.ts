// Certificate serial numbers: random, positive, 126 bits of entropy, written as lowercase hex.

import { randomBytes } from 'node:crypto';

/** Length of every serial meshca mints, in bytes. */
export const SERIAL_BYTES = 16;

/**
 * A fresh serial (CA/B Forum asks for at least 64 bits of CSPRNG output; this has 126). The top bit is
 * cleared so the INTEGER is positive and the next set so its DER is always 16 bytes, never 0-padded.
 */
export function randomSerial(): Buffer {
  const b = randomBytes(SERIAL_BYTES);
  b[0] = (b[0]! & 0x3f) | 0x40;
  return b;
}

/** Canonical text form: lowercase hex of the magnitude, no leading zero bytes, no separators. */
export function serialToHex(serial: Buffer): string {
  let start = 0;
  while (start < serial.length - 1 && serial[start] === 0) start++;
  return serial.subarray(start).toString('hex');
}

/** Normalizes a serial typed by a person (`0A:1b`, `0x0a1b`, `a1b`) to canonical hex, or null if not hex. */
export function normalizeSerial(text: string): string | null {
  const hex = text.trim().toLowerCase().replace(/^0x/, '').replace(/[:\s]/g, '');
  if (!/^[0-9a-f]+$/.test(hex) || hex.length > 40) return null;
  const stripped = hex.replace(/^0+(?=.)/, '');
  return stripped.length % 2 === 1 ? `0${stripped}` : stripped;
}
