// `ca init`: create a CA directory with a root, an intermediate, a database and a config file.

import { formatDuration, parseDuration } from '../../config/duration.js';
import { initLocalCa } from '../../server/local-ca.js';
import type { CommandOutput } from '../output.js';
import { localActor } from './shared.js';

export interface InitArgs {
  dir: string;
  name: string;
  trustDomain: string;
  keyType?: string;
  publicUrl?: string;
  defaultTtl?: string;
  maxTtl?: string;
  passphrase: string | undefined;
}

export function init(args: InitArgs): CommandOutput {
  const ttl = (text: string | undefined): string | undefined => (text === undefined ? undefined : formatDuration(parseDuration(text)));
  const result = initLocalCa({
    dir: args.dir,
    name: args.name,
    trustDomain: args.trustDomain,
    keyType: args.keyType,
    publicUrl: args.publicUrl,
    defaultTtl: ttl(args.defaultTtl),
    maxTtl: ttl(args.maxTtl),
    passphrase: args.passphrase,
    caller: { actor: localActor() },
  });
  const data = {
    dir: result.dir,
    rootSerial: result.rootSerial,
    rootNotAfter: result.rootNotAfter.toISOString(),
    intermediateSerial: result.intermediateSerial,
    intermediateNotAfter: result.intermediateNotAfter.toISOString(),
    encryptedKeys: result.encryptedKeys,
  };
  const human = [
    `created CA in ${result.dir}`,
    `  root          ${result.dir}/root.pem (serial ${result.rootSerial}, until ${data.rootNotAfter})`,
    `  intermediate  ${result.dir}/intermediate.pem (serial ${result.intermediateSerial}, until ${data.intermediateNotAfter})`,
    `  keys          ${result.dir}/private/ (${result.encryptedKeys ? 'encrypted with your passphrase' : 'unencrypted: set CA_PASSPHRASE at init to encrypt them'})`,
  ].join('\n');
  return { data, human };
}
