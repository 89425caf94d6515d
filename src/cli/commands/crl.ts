// `ca crl`: sign fresh CRLs and write the intermediate's (DER) or every level's (PEM, `X509 CRL`).

import { toPem } from '../../crypto/pem.js';
import { writeFileAtomic } from '../../store/ca-directory.js';
import { checkOutputPath } from '../io.js';
import type { CommandOutput } from '../output.js';
import { withLocalCa } from './shared.js';

export interface CrlArgs {
  dir: string;
  out: string;
  pem: boolean;
  passphrase: string | undefined;
}

export function crl(args: CrlArgs): CommandOutput {
  checkOutputPath(args.out, 'CRL', true);
  return withLocalCa(args.dir, (ca) => {
    const authority = ca.authority(args.passphrase);
    const intermediate = authority.signCrl('intermediate');
    const root = args.pem ? authority.signCrl('root') : undefined;
    // Node's tls and OpenSSL read the `X509 CRL` label; x509's default `CRL` label is refused by Node.
    const body = root ? `${toPem('X509 CRL', root.der)}${toPem('X509 CRL', intermediate.der)}` : intermediate.der;
    writeFileAtomic(args.out, body, 0o644);
    const describe = (c: typeof intermediate) => ({ number: c.number.toString(), entries: c.entries, thisUpdate: c.thisUpdate.toISOString(), nextUpdate: c.nextUpdate.toISOString() });
    const data = { out: args.out, format: args.pem ? 'pem' : 'der', intermediate: describe(intermediate), ...(root ? { root: describe(root) } : {}) };
    const human = [
      `wrote ${args.pem ? 'PEM CRLs (root, intermediate)' : 'DER CRL (intermediate)'} to ${args.out}`,
      `  intermediate  CRL #${data.intermediate.number}, ${intermediate.entries} revoked, next update ${data.intermediate.nextUpdate}`,
      ...(root ? [`  root          CRL #${root.number}, ${root.entries} revoked, next update ${data.root!.nextUpdate}`] : []),
    ].join('\n');
    return { data, human };
  });
}
