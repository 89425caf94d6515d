// What the verbs that talk to a running CA share: the client built from --ca-url, --ca-bundle and --insecure.

import { CaClient } from '../../client/ca-client.js';
import { readPemLabelled } from '../../crypto/pem.js';
import { readInputFile } from '../io.js';
import { CaError } from '../../errors.js';

export interface RemoteArgs {
  caUrl: string;
  caBundle?: string;
  insecure?: boolean;
}

/** A client for the CA at --ca-url, trusting --ca-bundle (e.g. DIR/root.pem). */
export function connect(args: RemoteArgs): CaClient {
  // A missing trust anchor is a usage error, as for every verb that fetches from --ca-url.
  if (args.caBundle === undefined && !args.insecure) throw new CaError('ERR_USAGE', 'cli: pass --ca-bundle ROOT.pem to trust the CA (or --insecure to skip verifying it, for testing only)');
  const caBundle = args.caBundle === undefined ? undefined : readInputFile(args.caBundle, 'CA bundle').toString('utf8');
  if (caBundle !== undefined) readPemLabelled(caBundle, ['CERTIFICATE'], `CA bundle ${args.caBundle}`);
  return new CaClient({ caUrl: args.caUrl, caBundle, insecure: args.insecure ?? false });
}
