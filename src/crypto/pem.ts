// PEM armour (RFC 7468): encoding DER under a label and reading every block of a file.

import { CaError } from '../errors.js';

/** One PEM block: its label (`CERTIFICATE`, `X509 CRL`, ...) and DER body. */
export interface PemBlock {
  readonly label: string;
  readonly der: Buffer;
}

/** Encodes DER under `label`, 64 columns, ending in a newline. */
export function toPem(label: string, der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;

/** Reads every PEM block in `text`, refusing mismatched labels and bodies that are not base64. */
export function readPemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const [, begin, body, end] = m as unknown as [string, string, string, string];
    if (begin !== end) throw new CaError('ERR_PEM_INVALID', `pem: BEGIN ${begin} closed by END ${end}`);
    const b64 = body.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0 || b64.length === 0) {
      throw new CaError('ERR_PEM_INVALID', `pem: the ${begin} block is not valid base64`);
    }
    blocks.push({ label: begin, der: Buffer.from(b64, 'base64') });
  }
  return blocks;
}

/** The DER of every block labelled `label` (first of `labels` that matches); refuses text with none. */
export function readPemLabelled(text: string, labels: readonly string[], what: string): Buffer[] {
  const ders = readPemBlocks(text).filter((b) => labels.includes(b.label)).map((b) => b.der);
  if (ders.length === 0) throw new CaError('ERR_PEM_INVALID', `pem: no ${labels.join(' or ')} block found in the ${what}`);
  return ders;
}

/** True when `data` looks like PEM text rather than DER. */
export function isPem(data: Buffer): boolean {
  return data.subarray(0, 4096).toString('latin1').includes('-----BEGIN ');
}
