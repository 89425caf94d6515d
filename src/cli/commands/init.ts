// `ca init`: create a CA directory with a root, an intermediate, a database and a config file.

import { formatDuration, parseDuration } from '../../config/duration.js';
import { initLocalCa, LocalCa } from '../../server/local-ca.js';
import { connectionUrl } from '../../store/open-store.js';
import type { CommandOutput } from '../output.js';
import { localActor, noteUpgrade } from './shared.js';

export interface InitArgs {
  dir: string;
  name: string;
  trustDomain: string;
  keyType?: string;
  publicUrl?: string;
  defaultTtl?: string;
  maxTtl?: string;
  intermediateLifetime?: string;
  rootKeyOut?: string;
  database?: string;
  passphrase: string | undefined;
  rootPassphrase?: string | undefined;
}

export async function init(args: InitArgs): Promise<CommandOutput> {
  const ttl = (text: string | undefined): string | undefined => (text === undefined ? undefined : formatDuration(parseDuration(text)));
  const database = connectionUrl(args.database, '--database');
  const result = await initLocalCa({
    dir: args.dir,
    name: args.name,
    trustDomain: args.trustDomain,
    keyType: args.keyType,
    publicUrl: args.publicUrl,
    defaultTtl: ttl(args.defaultTtl),
    maxTtl: ttl(args.maxTtl),
    intermediateLifetime: ttl(args.intermediateLifetime),
    ...(args.rootKeyOut === undefined ? {} : { rootKeyOut: args.rootKeyOut }),
    ...(database === undefined ? {} : { database }),
    passphrase: args.passphrase,
    rootPassphrase: args.rootPassphrase,
    caller: { actor: localActor() },
  });
  const data = {
    dir: result.dir,
    rootSerial: result.rootSerial,
    rootNotAfter: result.rootNotAfter.toISOString(),
    intermediateSerial: result.intermediateSerial,
    intermediateNotAfter: result.intermediateNotAfter.toISOString(),
    encryptedKeys: result.encryptedKeys,
    rootKey: result.rootKey,
    rootOffline: args.rootKeyOut !== undefined,
    rootCrlNextUpdate: result.rootCrlNextUpdate.toISOString(),
    database: result.database,
  };
  const human = [
    `created CA in ${result.dir}`,
    `  root          ${result.dir}/root.pem (serial ${result.rootSerial}, until ${data.rootNotAfter})`,
    `  intermediate  ${result.dir}/intermediate.pem (serial ${result.intermediateSerial}, until ${data.intermediateNotAfter})`,
    `  keys          ${result.dir}/private/ (${result.encryptedKeys ? 'encrypted with your passphrase' : 'unencrypted: set CA_PASSPHRASE at init to encrypt them'})`,
    ...(args.rootKeyOut === undefined
      ? []
      : [`  root key      ${result.rootKey} (not in the CA directory: keep it offline; it is needed only to rotate the intermediate and re-sign the root CRL)`]),
    `  database      ${result.database}`,
    `  root CRL      in the database (valid until ${data.rootCrlNextUpdate}; re-signed at each rotation)`,
    ...(database === undefined ? [] : [`  replicas      copy ${result.dir} (config.json, root.pem, private/) to each machine that runs ca serve; they share the database`]),
  ].join('\n');
  const notes = result.passwordKeptOut ? ['the database password was used but not written into config.json: give it to every ca command and replica as MESHCA_DATABASE_URL (the whole URL) or PGPASSWORD'] : [];
  return { data: { ...data, passwordKeptOut: result.passwordKeptOut }, human, notes };
}

export interface RotateArgs {
  dir: string;
  rootKey?: string;
  passphrase: string | undefined;
  rootPassphrase?: string | undefined;
}

/** `ca intermediate rotate`: a new intermediate from the root key; running services pick it up within a second. */
export async function rotateIntermediate(args: RotateArgs): Promise<CommandOutput> {
  const ca = await LocalCa.open(args.dir);
  noteUpgrade(ca);
  try {
    const r = await ca.rotateIntermediate(args.passphrase, { keyFile: args.rootKey, passphrase: args.rootPassphrase }, { actor: localActor() });
    const data = {
      previous: { serial: r.previous.serial, notAfter: r.previous.notAfter.toISOString() },
      current: { serial: r.current.serial, notBefore: r.current.notBefore.toISOString(), notAfter: r.current.notAfter.toISOString() },
      signsFrom: r.signsFrom.toISOString(),
      rootCrlNextUpdate: r.rootCrlNextUpdate.toISOString(),
      keyFile: r.keyFile,
    };
    const human = [
      `rotated the intermediate of ${args.dir}`,
      `  new       ${data.current.serial} (until ${data.current.notAfter}): published now (trust bundle, CRLs); signs every new leaf from ${data.signsFrom}`,
      `  retired   ${data.previous.serial} (until ${data.previous.notAfter}): signs new leaves until ${data.signsFrom}, then keeps its CRL and OCSP answers until its last leaf expires`,
      `  root CRL  re-signed, valid until ${data.rootCrlNextUpdate}`,
      `  key       ${data.keyFile}`,
      ca.store.backend === 'postgres'
        ? `every ca serve on this database sees it within a second: copy ${data.keyFile} to each replica's CA directory before ${data.signsFrom}`
        : 'a running ca serve on this directory switches within a second; clients get the new chain at their next renewal',
    ].join('\n');
    return { data, human };
  } finally {
    await ca.close();
  }
}
