// `ca renew`: renew a certificate over mTLS once, or keep renewing it (`--daemon`).

import { renewOnce, runRenewalDaemon } from '../../client/renewer.js';
import type { CommandOutput } from '../output.js';
import { connect, type RemoteArgs } from './remote.js';
import { stopOnSignals } from './shared.js';
import { readInputFile } from '../io.js';

export interface RenewArgs extends RemoteArgs {
  cert: string;
  key: string;
  rekey: boolean;
  daemon: boolean;
  exec?: string;
}

export async function renew(args: RenewArgs, log: (line: string) => void): Promise<CommandOutput> {
  const client = connect(args);
  const files = { certPath: args.cert, keyPath: args.key };
  if (args.daemon) {
    const stop = stopOnSignals(log);
    // The renewal-advice stream needs the root the CA service chains to; with --insecure there is none to trust.
    const caBundle = args.caBundle === undefined ? undefined : readInputFile(args.caBundle, 'CA bundle').toString('utf8');
    await runRenewalDaemon({ ...files, client, rekey: args.rekey, exec: args.exec, log, signal: stop.signal, caUrl: args.caUrl, ...(caBundle === undefined ? {} : { caBundle }) });
    stop.release();
    return { data: { stopped: true }, human: '' };
  }
  const issued = await renewOnce(client, files, args.rekey);
  const data = { serial: issued.serial, renewed: issued.renewed, notBefore: issued.notBefore, notAfter: issued.notAfter, spiffeId: issued.spiffeId, dnsNames: issued.dnsNames, ipAddresses: issued.ipAddresses };
  return { data, human: `renewed ${issued.renewed} → ${issued.serial}, valid until ${issued.notAfter}${args.rekey ? ' (new key)' : ''}` };
}
