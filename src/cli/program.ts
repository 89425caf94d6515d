// The `ca` command line: declares every verb and its options with commander, runs one, and maps the result to an exit code.

import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { audit } from './commands/audit.js';
import { crl } from './commands/crl.js';
import { init } from './commands/init.js';
import { inspect } from './commands/inspect.js';
import { issue } from './commands/issue.js';
import { list } from './commands/list.js';
import { revoke } from './commands/revoke.js';
import { readPassphrase } from './io.js';
import { EXIT, printError, printOutput, processTerminal, type CommandOutput, type Terminal } from './output.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  }
}

/** Builds the program; `run` receives each verb's output. */
function buildProgram(run: (verb: () => CommandOutput, json: boolean) => void, term: Terminal): Command {
  const program = new Command('ca')
    .description('meshca: an internal certificate authority for service-to-service mTLS')
    .version(version(), '-V, --version')
    .showHelpAfterError('(run `ca help` or `ca <command> --help` for usage)')
    .exitOverride()
    .configureOutput({ writeOut: term.stdout, writeErr: term.stderr })
    .allowExcessArguments(false);

  const passphraseOption = new Option('--passphrase-file <file>', 'file whose first line is the CA key passphrase (default: $CA_PASSPHRASE)');

  program
    .command('init')
    .description('create a CA directory: root, issuing intermediate, database and config')
    .requiredOption('--dir <dir>', 'CA directory to create (must not exist or be empty)')
    .requiredOption('--name <name>', 'CA name, used in the CA certificates (e.g. "Acme Mesh")')
    .requiredOption('--trust-domain <domain>', 'SPIFFE trust domain (e.g. acme.internal)')
    .option('--key-type <type>', 'CA key type: ec-p256, ec-p384, ed25519, rsa-2048, rsa-3072', 'ec-p256')
    .option('--public-url <url>', 'base URL of the CRL and OCSP endpoints written into certificates', 'http://127.0.0.1:8080')
    .option('--default-ttl <dur>', 'leaf lifetime when none is asked for', '24h')
    .option('--max-ttl <dur>', 'longest leaf lifetime the CA grants', '7d')
    .addOption(passphraseOption)
    .option('--json', 'print JSON')
    .action((o) => run(() => init({ ...o, passphrase: readPassphrase(o.passphraseFile) }), !!o.json));

  program
    .command('issue')
    .description('issue a leaf certificate on a local CA directory')
    .argument('<name>', 'certificate name (subject CN)')
    .requiredOption('--dir <dir>', 'CA directory')
    .option('--spiffe-id <uri>', 'SPIFFE ID (URI SAN) inside the trust domain')
    .option('--dns <name>', 'DNS name (repeatable)', collect, [])
    .option('--ip <addr>', 'IP address (repeatable)', collect, [])
    .option('--ttl <dur>', 'lifetime (default: the CA default, 24h)')
    .option('--key-type <type>', 'generated key type: ec-p256 (default), ec-p384, ed25519, rsa-2048, rsa-3072')
    .option('--csr <file>', 'sign this PKCS#10 request instead of generating a key')
    .requiredOption('--cert-out <file>', 'where to write the leaf followed by the intermediate (PEM)')
    .option('--key-out <file>', 'where to write the generated private key (0600)')
    .option('--force', 'replace an existing --key-out file', false)
    .addOption(passphraseOption)
    .option('--json', 'print JSON')
    .action((name: string, o) => run(() => issue({ ...o, name, passphrase: readPassphrase(o.passphraseFile) }), !!o.json));

  program
    .command('list')
    .description('list issued leaf certificates')
    .requiredOption('--dir <dir>', 'CA directory')
    .option('--status <status>', 'valid, revoked or expired')
    .option('--expiring-within <dur>', 'only valid certificates expiring within this duration')
    .option('--json', 'print JSON')
    .action((o) => run(() => list(o), !!o.json));

  program
    .command('revoke')
    .description('revoke a leaf certificate by serial or by certificate file')
    .argument('[serial]', 'serial number (hex)')
    .requiredOption('--dir <dir>', 'CA directory')
    .option('--cert <file>', 'revoke the certificate in this file')
    .option('--reason <reason>', 'unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn, aACompromise', 'unspecified')
    .addOption(passphraseOption)
    .option('--json', 'print JSON')
    .action((serial: string | undefined, o) => run(() => revoke({ ...o, serial, passphrase: readPassphrase(o.passphraseFile) }), !!o.json));

  program
    .command('crl')
    .description('sign and write the current CRLs')
    .requiredOption('--dir <dir>', 'CA directory')
    .requiredOption('--out <file>', 'output file')
    .option('--pem', 'write every level (root and intermediate) as PEM `X509 CRL` blocks instead of the intermediate CRL as DER', false)
    .addOption(passphraseOption)
    .option('--json', 'print JSON')
    .action((o) => run(() => crl({ ...o, passphrase: readPassphrase(o.passphraseFile) }), !!o.json));

  program
    .command('inspect')
    .description('show a certificate, chain, CSR or CRL (PEM or DER)')
    .argument('<file>', 'file to inspect')
    .option('--json', 'print JSON')
    .action((file: string, o) => run(() => inspect({ file }), !!o.json));

  program
    .command('audit')
    .description('show the audit log')
    .requiredOption('--dir <dir>', 'CA directory')
    .option('--json', 'print JSON')
    .action((o) => run(() => audit(o), !!o.json));

  for (const c of program.commands) c.exitOverride().configureOutput({ writeOut: term.stdout, writeErr: term.stderr }).allowExcessArguments(false);
  return program;
}

/**
 * Runs `ca` with `argv` (as `process.argv`) and resolves to the exit code; nothing here calls `process.exit`.
 *
 * @example
 * process.exitCode = await main(process.argv);
 */
export async function main(argv: readonly string[], term: Terminal = processTerminal): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram((verb, json) => {
    try {
      printOutput(verb(), json, term);
    } catch (e) {
      code = printError(e, term, json);
    }
  }, term);
  try {
    await program.parseAsync([...argv]);
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and --version exit through here with code 0; usage errors have already printed one line.
      return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    return printError(e, term, false);
  }
  return code;
}
