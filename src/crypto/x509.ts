// The one doorway to @peculiar/x509: loads reflect-metadata first and points it at Node's own WebCrypto.

import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// Node's WebCrypto signs ~8x faster than @peculiar/webcrypto and covers every key type meshca issues.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };

// OCSP is not in @peculiar/x509: its ASN.1 schemas, parsed with the same library family.
export * as asn1Ocsp from '@peculiar/asn1-ocsp';
export { AsnConvert } from '@peculiar/asn1-schema';
