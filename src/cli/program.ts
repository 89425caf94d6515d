// The `ca` command line: declares every verb and its options with commander, runs one, and maps the result to an exit code.

import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { CaError } from '../errors.js';
import { readPassphrase, readRootPassphrase, readSecret } from './io.js';
import { EXIT, printError, printOutput, processTerminal, type CommandOutput, type Terminal } from './output.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];
/** An option that may be given once: a second value is a usage error, not a silent override. */
const once = (value: string, previous: string | undefined): string => {
  if (previous !== undefined) throw new InvalidArgumentError('it is given once');
  return value;
};
/** A whole number in 1..max. */
const count = (max: number) => (value: string): number => {
  if (!/^\d{1,9}$/.test(value) || Number(value) < 1 || Number(value) > max) throw new InvalidArgumentError(`expected a whole number from 1 to ${max}`);
  return Number(value);
};

/**
 * Each verb's module, loaded when that verb runs: `ca --version` or `ca inspect` must not pay for the database,
 * the HTTP stack and the x509 library that `ca serve` needs.
 */
const load = {
  apikey: () => import('./commands/apikey.js'),
  acme: () => import('./commands/acme.js'),
  audit: () => import('./commands/audit.js'),
  backup: () => import('./commands/backup.js'),
  crl: () => import('./commands/crl.js'),
  init: () => import('./commands/init.js'),
  inspect: () => import('./commands/inspect.js'),
  issue: () => import('./commands/issue.js'),
  list: () => import('./commands/list.js'),
  migrate: () => import('./commands/migrate.js'),
  ocsp: () => import('./commands/ocsp.js'),
  renew: () => import('./commands/renew.js'),
  renewNow: () => import('./commands/renew-now.js'),
  revoke: () => import('./commands/revoke.js'),
  serve: () => import('./commands/serve.js'),
  token: () => import('./commands/token.js'),
};

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  }
}

type Verb = () => CommandOutput | Promise<CommandOutput>;

/** Local verbs need --dir; naming both --dir and --ca-url is ambiguous. */
function localOrRemote(o: { dir?: string; caUrl?: string }): 'local' | 'remote' {
  if (o.dir !== undefined && o.caUrl !== undefined) throw new CaError('ERR_USAGE', 'cli: give either --dir (local CA directory) or --ca-url (running CA), not both');
  if (o.dir === undefined && o.caUrl === undefined) throw new CaError('ERR_USAGE', 'cli: give --dir DIR (local CA directory) or --ca-url URL (running CA)');
  return o.dir !== undefined ? 'local' : 'remote';
}

const API_KEY = { test: /^mca_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/, what: 'meshca API key (mca_...)' };
const TOKEN = { test: /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, what: 'enrollment token (a JWT from `ca token`)' };

/** The API key from --api-key, --api-key-file or $MESHCA_API_KEY. */
const apiKeyOf = (o: { apiKey?: string; apiKeyFile?: string }): string | undefined => readSecret({ value: o.apiKey, file: o.apiKeyFile, env: 'MESHCA_API_KEY', shape: API_KEY }, 'api-key');

/**
 * The enrollment credential of `ca issue --ca-url`: what the flags name (token or API key, each as a value or a
 * file), else $MESHCA_TOKEN or $MESHCA_API_KEY.
 */
function enrollmentCredential(o: { token?: string; tokenFile?: string; apiKey?: string; apiKeyFile?: string }): { token?: string; apiKey?: string } {
  const flagged = [o.token, o.tokenFile, o.apiKey, o.apiKeyFile].some((v) => v !== undefined);
  const token = flagged ? readSecret({ value: o.token, file: o.tokenFile, env: '', shape: TOKEN }, 'token') : readSecret({ env: 'MESHCA_TOKEN', shape: TOKEN }, 'token');
  const apiKey = flagged ? readSecret({ value: o.apiKey, file: o.apiKeyFile, env: '', shape: API_KEY }, 'api-key') : readSecret({ env: 'MESHCA_API_KEY', shape: API_KEY }, 'api-key');
  return { ...(token === undefined ? {} : { token }), ...(apiKey === undefined ? {} : { apiKey }) };
}

/** Builds the program; `run` receives each verb's output. */
function buildProgram(run: (verb: Verb, json: boolean) => Promise<void>, term: Terminal, json: boolean): Command {
  // commander's own usage errors as one line in the CLI's format, like every other error (and JSON on stdout
  // under --json, as for any other error).
  const output = {
    writeOut: term.stdout,
    writeErr: term.stderr,
    outputError: (text: string) => {
      const message = `cli: ${text.trim().replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')} (see \`ca help\` or \`ca <command> --help\`)`;
      if (json) term.stdout(`${JSON.stringify({ error: { code: 'ERR_USAGE', message } })}\n`);
      term.stderr(`ca: ${message} [ERR_USAGE]\n`);
    },
  };
  const program = new Command('ca')
    .description('meshca: an internal certificate authority for service-to-service mTLS')
    .version(version(), '-V, --version')
    .exitOverride()
    .configureOutput(output)
    .allowExcessArguments(false)
    .enablePositionalOptions();

  const passphraseOption = new Option('--passphrase-file <file>', 'file whose first line is the CA key passphrase (default: $CA_PASSPHRASE)');
  const rootPassphraseOption = () => new Option('--root-passphrase-file <file>', 'file whose first line is the root key\'s own passphrase (default: $ROOT_CA_PASSPHRASE, else the CA passphrase)');
  const remoteOptions = (c: Command): Command =>
    c
      .option('--ca-url <url>', 'a running CA (https://HOST:PORT) instead of a local --dir')
      .option('--ca-bundle <file>', 'root certificate(s) to trust for the CA (e.g. DIR/root.pem)')
      .option('--insecure', 'do not verify the CA\'s TLS certificate (testing only)', false);

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
    .option('--intermediate-lifetime <dur>', 'how long each intermediate lives (at init and at each rotation)', '365d')
    .option('--root-key-out <file>', 'write the root key to this file (which must not exist) instead of the CA directory: an offline root from the start')
    .option('--database <url>', 'keep the CA\'s data in this PostgreSQL database (postgres://USER@HOST:PORT/DB, shared by replicas) instead of DIR/ca.db')
    .addOption(passphraseOption)
    .addOption(rootPassphraseOption())
    .option('--json', 'print JSON')
    .action((o) => run(async () => (await load.init()).init({ ...o, passphrase: readPassphrase(o.passphraseFile), rootPassphrase: readRootPassphrase(o.rootPassphraseFile) }), !!o.json));

  program
    .command('intermediate')
    .description('`ca intermediate rotate`: make a new intermediate with the root key; the old one answers for its leaves until they expire')
    .argument('<action>', 'rotate')
    .requiredOption('--dir <dir>', 'CA directory')
    .option('--root-key <file>', 'the root key, when it is kept offline (default: DIR/private/root.key)')
    .addOption(passphraseOption)
    .addOption(rootPassphraseOption())
    .option('--json', 'print JSON')
    .action((action: string, o) => run(async () => {
      if (action !== 'rotate') throw new CaError('ERR_USAGE', `cli: unknown intermediate action "${action}" (only "rotate")`);
      return (await load.init()).rotateIntermediate({ ...o, passphrase: readPassphrase(o.passphraseFile), rootPassphrase: readRootPassphrase(o.rootPassphraseFile) });
    }, !!o.json));

  const issueCommand = program
    .command('issue')
    .description('issue a leaf certificate on a local CA directory, or enroll with a running CA (--ca-url)')
    .argument('<name>', 'certificate name (subject CN)')
    .option('--dir <dir>', 'CA directory')
    .option('--spiffe-id <uri>', 'SPIFFE ID (URI SAN) inside the trust domain')
    .option('--dns <name>', 'DNS name (repeatable)', collect, [])
    .option('--ip <addr>', 'IP address (repeatable)', collect, [])
    .option('--ttl <dur>', 'lifetime (default: the CA default, 24h)')
    .option('--key-type <type>', 'generated key type: ec-p256 (default), ec-p384, ed25519, rsa-2048, rsa-3072')
    .option('--csr <file>', 'sign this PKCS#10 request instead of generating a key')
    .requiredOption('--cert-out <file>', 'where to write the leaf followed by the intermediate (PEM)')
    .option('--key-out <file>', 'where to write the generated private key (0600)')
    .option('--force', 'replace an existing --key-out file', false)
    .option('--token <jwt>', 'enrollment token from `ca token` (with --ca-url; visible in ps: prefer --token-file or $MESHCA_TOKEN)')
    .option('--token-file <file>', 'file whose first line is the enrollment token')
    .option('--api-key <key>', 'API key with an issue scope (with --ca-url; visible in ps: prefer --api-key-file or $MESHCA_API_KEY)')
    .option('--api-key-file <file>', 'file whose first line is the API key')
    .addOption(passphraseOption)
    .option('--json', 'print JSON');
  remoteOptions(issueCommand).action((name: string, o) =>
    run(async () => (localOrRemote(o) === 'local' ? (await load.issue()).issue({ ...o, name, passphrase: readPassphrase(o.passphraseFile) }) : (await load.issue()).issueRemote({ ...o, name, ...enrollmentCredential(o) })), !!o.json),
  );

  const listCommand = program
    .command('list')
    .description('list issued leaf certificates')
    .option('--dir <dir>', 'CA directory')
    .option('--api-key <key>', 'API key with the list scope (with --ca-url; prefer --api-key-file or $MESHCA_API_KEY)')
    .option('--api-key-file <file>', 'file whose first line is the API key')
    .option('--status <status>', 'valid, revoked or expired')
    .option('--expiring-within <dur>', 'only valid certificates expiring within this duration')
    .option('--all', 'include the CA service\'s own TLS certificates (spiffe://DOMAIN/meshca/ca)', false)
    .option('--identity <pattern>', 'only certificates with an identity the pattern matches (spiffe:, dns:, ip: or untyped, as in API key scopes)', once)
    .option('--json', 'print JSON');
  remoteOptions(listCommand).action((o) => run(async () => (localOrRemote(o) === 'local' ? (await load.list()).list(o) : (await load.list()).listRemote({ ...o, apiKey: apiKeyOf(o) })), !!o.json));

  const revokeCommand = program
    .command('revoke')
    .description('revoke a leaf certificate by serial or by certificate file, or a lineage (--lineage) or an identity (--identity) at once')
    .argument('[serial]', 'serial number (hex)')
    .option('--dir <dir>', 'CA directory')
    .option('--cert <file>', 'revoke the certificate in this file')
    .option('--lineage <serial>', 'revoke this certificate, every certificate renewed from it (with or without a new key) and every certificate with the same key', once)
    .option('--identity <pattern>', 'revoke every unexpired certificate with an identity the pattern matches (spiffe:, dns:, ip: or untyped, as in API key scopes)', once)
    .option('--dry-run', 'with --lineage or --identity: list what would be revoked, change nothing', false)
    .option('--key <file>', "with --ca-url and --cert: revoke your own certificate, proving it with its key (mTLS)")
    .option('--api-key <key>', 'API key with the revoke scope (with --ca-url; prefer --api-key-file or $MESHCA_API_KEY)')
    .option('--api-key-file <file>', 'file whose first line is the API key')
    .option('--reason <reason>', 'unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn, aACompromise', 'unspecified')
    .addOption(passphraseOption)
    .option('--json', 'print JSON');
  remoteOptions(revokeCommand).action((serial: string | undefined, o) =>
    run(async () => (localOrRemote(o) === 'local' ? (await load.revoke()).revoke({ ...o, serial, passphrase: readPassphrase(o.passphraseFile) }) : (await load.revoke()).revokeRemote({ ...o, serial, apiKey: o.key !== undefined && o.apiKey === undefined && o.apiKeyFile === undefined ? undefined : apiKeyOf(o) })), !!o.json),
  );

  const renewCommand = program
    .command('renew')
    .description('renew a certificate over mTLS with a running CA, once or as a daemon')
    .requiredOption('--cert <file>', 'current certificate (leaf first, as ca issue writes it); replaced atomically')
    .requiredOption('--key <file>', 'its private key; replaced (0600) with --rekey')
    .option('--rekey', 'renew for a freshly generated key of the same type', false)
    .option('--daemon', 'keep renewing at two thirds of each lifetime until SIGTERM', false)
    .option('--exec <command>', 'with --daemon: shell command to run after each renewal')
    .option('--json', 'print JSON');
  remoteOptions(renewCommand).action((o) =>
    run(async () => {
      if (o.caUrl === undefined) throw new CaError('ERR_USAGE', 'cli: ca renew needs --ca-url URL');
      if (o.exec !== undefined && !o.daemon) throw new CaError('ERR_USAGE', 'cli: --exec goes with --daemon');
      return (await load.renew()).renew(o, (line) => term.stderr(`${new Date().toISOString()} ca renew: ${line}\n`));
    }, !!o.json),
  );

  const renewNowCommand = program
    .command('renew-now')
    .description('move the renewal window of the leaves a selector covers to now: clients renew at a random moment within --within')
    .option('--dir <dir>', 'CA directory')
    .option('--serial <serial>', 'one leaf, by serial (hex)', once)
    .option('--identity <pattern>', 'leaves with an identity the pattern matches (spiffe:, dns:, ip: or untyped, as in API key scopes)', once)
    .option('--issued-before <time>', 'leaves signed before this time (ISO 8601 with a zone, e.g. 2026-06-15T12:00:00Z)', once)
    .option('--all', 'every leaf', false)
    .option('--within <dur>', 'how long the window lasts (1s to 7d)', once)
    .option('--explanation-url <url>', 'an http(s) page that says why, served to clients as explanationURL', once)
    .option('--api-key <key>', 'API key with the revoke scope (with --ca-url; prefer --api-key-file or $MESHCA_API_KEY)')
    .option('--api-key-file <file>', 'file whose first line is the API key')
    .option('--json', 'print JSON');
  remoteOptions(renewNowCommand).action((o) =>
    run(async () => (localOrRemote(o) === 'local' ? (await load.renewNow()).renewNow(o) : (await load.renewNow()).renewNowRemote({ ...o, apiKey: apiKeyOf(o) })), !!o.json),
  );

  program
    .command('serve')
    .description('run the CA service: HTTPS API (mTLS renewal) and a plain-HTTP listener for public material')
    .requiredOption('--dir <dir>', 'CA directory')
    .option('--listen <host:port>', 'HTTPS API listener', '127.0.0.1:8443')
    .option('--http-listen <host:port>', 'plain-HTTP listener: CRLs, OCSP, trust bundle, health, metrics, audit head (the --public-url of ca init)', '127.0.0.1:8080')
    .option('--rate-limit <n>', 'sign and renew requests per second allowed per caller', '100')
    .option('--signing-workers <n>', 'threads that verify CSRs and sign leaves (0: the main thread; default: one per core but one, at least one)')
    .option('--handshake-timeout <dur>', 'TLS handshake must finish within this', '10s')
    .option('--header-timeout <dur>', 'request headers must arrive within this', '10s')
    .option('--request-timeout <dur>', 'a whole request must arrive within this', '30s')
    .option('--keep-alive-timeout <dur>', 'idle keep-alive connections close after this', '5s')
    .option('--max-connections <n>', 'connections held at once per listener', '1024')
    .option('--ocsp-sign-limit <n>', 'OCSP responses signed on the fly (nonce, cache miss) per client address per second; 0: no limit', '200')
    .option('--audit-head-interval <dur>', 'how often the signed audit chain head is logged and published', '60s')
    .option('--service-dns <name>', 'a DNS name clients reach the service by, for its own TLS certificate (e.g. the load balancer\'s; repeatable)', collect, [])
    .option('--service-ip <addr>', 'an IP address clients reach the service by, for its own TLS certificate (repeatable)', collect, [])
    .addOption(passphraseOption)
    .addOption(rootPassphraseOption())
    .option('--json', 'accepted for uniformity: the service always logs JSON lines')
    .action((o) => run(async () => (await load.serve()).serve({ ...o, passphrase: readPassphrase(o.passphraseFile), rootPassphrase: readRootPassphrase(o.rootPassphraseFile) }), false));

  program
    .command('migrate')
    .description('bring the CA\'s database to this meshca\'s schema (ca serve does it at start too), or move a SQLite CA to PostgreSQL with --to')
    .requiredOption('--dir <dir>', 'CA directory')
    .option('--to <url>', 'move the CA\'s data from DIR/ca.db into this empty PostgreSQL database (postgres://USER@HOST:PORT/DB); ca serve must be stopped')
    .option('--json', 'print JSON')
    .action((o) => run(async () => (await load.migrate()).migrate(o, (line) => term.stderr(`ca migrate: ${line}\n`)), !!o.json));

  program
    .command('backup')
    .description('a consistent copy of a SQLite CA\'s database, made while ca serve runs (PostgreSQL: use pg_dump)')
    .requiredOption('--dir <dir>', 'CA directory')
    .requiredOption('--out <file>', 'where to write the copy (0600)')
    .option('--force', 'replace an existing --out file', false)
    .option('--json', 'print JSON')
    .action((o) => run(async () => (await load.backup()).backup(o, (line) => term.stderr(`ca backup: ${line}\n`)), !!o.json));

  program
    .command('token')
    .description('print a single-use enrollment token (JWT) for a service\'s first certificate')
    .argument('<name>', 'certificate name the token is for')
    .requiredOption('--dir <dir>', 'CA directory')
    .option('--spiffe-id <uri>', 'SPIFFE ID the token grants')
    .option('--dns <name>', 'DNS name the token grants (repeatable)', collect, [])
    .option('--ip <addr>', 'IP address the token grants (repeatable)', collect, [])
    .option('--ttl <dur>', 'token lifetime (default 5m, at most 1h)')
    .option('--cert-ttl <dur>', 'lifetime of the certificate it enrolls (default: the CA default)')
    .addOption(passphraseOption)
    .option('--json', 'print JSON (token, jti, expiresAt)')
    .action((name: string, o) => run(async () => (await load.token()).token({ ...o, name, passphrase: readPassphrase(o.passphraseFile) }), !!o.json));

  const acme = program.command('acme').description('ACME (RFC 8555) for certbot, lego, cert-manager and Caddy');
  const eab = acme.command('eab').description('external account keys: what an ACME client binds its account with');
  eab
    .command('create')
    .description('create an external account key (key id and HMAC key, shown once) bound to issue: scopes')
    .requiredOption('--dir <dir>', 'CA directory')
    .requiredOption('--name <name>', 'name of the key (shown in the audit log)')
    .requiredOption('--scope <scope>', 'issue:dns:PATTERN, issue:ip:CIDR or issue:spiffe:PATTERN the account may order (repeatable, or comma-separated)', collect, [])
    .option('--expires <dur>', 'how long the key can bind new accounts (default 7d, at most 90d)')
    .option('--json', 'print JSON')
    .action((o) => run(async () => (await load.acme()).eabCreate(o), !!o.json));
  eab
    .command('list')
    .description('list external account keys (never the HMAC keys)')
    .requiredOption('--dir <dir>', 'CA directory')
    .option('--json', 'print JSON')
    .action((o) => run(async () => (await load.acme()).eabList(o), !!o.json));
  eab
    .command('revoke')
    .description('revoke the unrevoked external account key with this name')
    .argument('<name>', 'key name')
    .requiredOption('--dir <dir>', 'CA directory')
    .option('--json', 'print JSON')
    .action((name: string, o) => run(async () => (await load.acme()).eabRevoke({ ...o, name }), !!o.json));

  const apikey = program.command('apikey').description('manage API keys for automation and operators');
  apikey
    .command('create')
    .description('create an API key and print it (shown once; only its hash is stored)')
    .requiredOption('--dir <dir>', 'CA directory')
    .requiredOption('--name <name>', 'name of the key (shown in the audit log)')
    .requiredOption('--scope <scope>', 'issue:spiffe:PATTERN, issue:dns:PATTERN, issue:ip:CIDR, revoke, list or audit (repeatable, or comma-separated; an untyped issue:GLOB is stored as the typed scope it means)', collect, [])
    .option('--expires <dur>', 'lifetime (default and maximum 90d)')
    .option('--json', 'print JSON')
    .action((o) => run(async () => (await load.apikey()).apikeyCreate(o), !!o.json));
  apikey
    .command('list')
    .description('list API keys (never the keys themselves)')
    .requiredOption('--dir <dir>', 'CA directory')
    .option('--json', 'print JSON')
    .action((o) => run(async () => (await load.apikey()).apikeyList(o), !!o.json));
  apikey
    .command('rotate')
    .description('a new secret for the active key NAME, same scopes; the old secret keeps working for --grace')
    .argument('<name>', 'key name')
    .requiredOption('--dir <dir>', 'CA directory')
    .option('--grace <dur>', 'how long the old secret keeps working (default 24h)')
    .option('--expires <dur>', 'lifetime of the new key (default and maximum 90d)')
    .option('--json', 'print JSON')
    .action((name: string, o) => run(async () => (await load.apikey()).apikeyRotate({ ...o, name }), !!o.json));
  apikey
    .command('revoke')
    .description('revoke the active API key with this name')
    .argument('<name>', 'key name')
    .requiredOption('--dir <dir>', 'CA directory')
    .option('--json', 'print JSON')
    .action((name: string, o) => run(async () => (await load.apikey()).apikeyRevoke({ ...o, name }), !!o.json));

  program
    .command('crl')
    .description('sign the current CRLs of a local CA, or fetch and verify a running CA\'s (--ca-url), and write them')
    .option('--dir <dir>', 'CA directory')
    .option('--ca-url <url>', 'a running CA (its public http:// URL, or https:// with --ca-bundle)')
    .option('--ca-bundle <file>', 'root certificate the fetched CRLs must chain to (with --ca-url)')
    .option('--out <file>', 'output file (required)')
    .option('--pem', 'write every level (root and intermediates) as PEM `X509 CRL` blocks instead of the current intermediate\'s CRL as DER', false)
    .option('--root', 're-sign the root\'s CRL with the root key (a ceremony for an offline root) and write it', false)
    .option('--root-key <file>', 'with --root: the root key, when it is kept offline')
    .addOption(passphraseOption)
    .addOption(rootPassphraseOption())
    .option('--json', 'print JSON')
    .action((o) => run(async () => (localOrRemote(o), (await load.crl()).crl({ ...o, passphrase: o.caUrl === undefined ? readPassphrase(o.passphraseFile) : undefined, rootPassphrase: o.root ? readRootPassphrase(o.rootPassphraseFile) : undefined })), !!o.json));

  const crlCommand = program.commands.find((c) => c.name() === 'crl')!;
  // Options after `sync` are sync's own (ca crl has --ca-url and --out too).
  crlCommand.enablePositionalOptions();
  crlCommand
    .command('sync')
    .description('keep a CRL file fresh for nginx, HAProxy, envoy or openssl s_server, running --exec after each change')
    .requiredOption('--ca-url <url>', 'the running CA (its public http:// URL, or https:// with --ca-bundle)')
    .requiredOption('--ca-bundle <file>', 'root certificate the fetched CRLs must chain to')
    .requiredOption('--out <file>', 'the CRL file to keep current (PEM)')
    .option('--intermediate-only', 'write only the current intermediate\'s CRL (openssl s_server -CRL reads one CRL per file)', false)
    .option('--exec <command>', 'shell command to run after each change (e.g. "nginx -s reload")')
    .option('--interval <seconds>', 'seconds between fetches: revocations reach the file within this', '30')
    .option('--once', 'fetch once and exit (for cron)', false)
    .option('--json', 'print JSON')
    .action((o) => run(async () => (await load.crl()).crlSync({ ...o, interval: Number(o.interval) }, (line) => term.stderr(`${new Date().toISOString()} ca crl sync: ${line}\n`)), !!o.json));

  program
    .command('ocsp')
    .description('ask the OCSP responder named in a certificate for its status, and verify the answer')
    .requiredOption('--cert <file>', 'the certificate followed by its issuer (as ca issue writes it)')
    .option('--ca-bundle <file>', 'root the issuer must chain to')
    .option('--url <url>', 'responder URL (default: the one in the certificate)')
    .option('--json', 'print JSON')
    .action((o) => run(async () => (await load.ocsp()).ocsp(o), !!o.json));

  program
    .command('inspect')
    .description('show a certificate, chain, CSR or CRL (PEM or DER)')
    .argument('<file>', 'file to inspect')
    .option('--json', 'print JSON')
    .action((file: string, o) => run(async () => (await load.inspect()).inspect({ file }), !!o.json));

  const auditCommand = program
    .command('audit')
    .description('show the audit log (a local --dir, or a running CA with an API key with the audit scope); `ca audit verify` checks its sealed chain (exit 1 names the first edited, missing or reordered row)')
    .argument('[verify]', 'check the sealed chain instead of listing')
    .option('--dir <dir>', 'CA directory')
    .option('--api-key <key>', 'API key with the audit scope (with --ca-url; prefer --api-key-file or $MESHCA_API_KEY)')
    .option('--api-key-file <file>', 'file whose first line is the API key')
    .option('--head <jws-or-file>', 'with verify: a signed head recorded earlier (from the log or /v1/audit/head); the log must still hold it')
    .option('--limit <n>', 'show at most this many rows (default 1000, at most 10000)', count(10_000))
    .option('--after <id>', 'show the rows after this id (the next page)', count(999_999_999))
    .option('--json', 'print JSON');
  remoteOptions(auditCommand).action((what: string | undefined, o) =>
    run(async () => {
      if (what !== undefined && what !== 'verify') throw new CaError('ERR_USAGE', `cli: unknown audit action "${what}" (only "verify")`);
      if (what !== 'verify' && o.head !== undefined) throw new CaError('ERR_USAGE', 'cli: --head goes with `ca audit verify`');
      if (what === 'verify' && (o.limit !== undefined || o.after !== undefined)) throw new CaError('ERR_USAGE', 'cli: `ca audit verify` walks the whole log: --limit and --after go with `ca audit`');
      const where = localOrRemote(o);
      if (what === 'verify' && where === 'remote') throw new CaError('ERR_USAGE', 'cli: ca audit verify reads the database: run it with --dir on the CA host (remotely, record /v1/audit/head and check it there later)');
      const commands = await load.audit();
      return what === 'verify' ? commands.auditVerify(o) : where === 'local' ? commands.audit(o) : commands.auditRemote({ ...o, apiKey: apiKeyOf(o) });
    }, !!o.json),
  );

  const configure = (c: Command): void => {
    c.exitOverride().configureOutput(output).allowExcessArguments(false);
    c.commands.forEach(configure);
  };
  program.commands.forEach(configure);
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
  const program = buildProgram(async (verb, json) => {
    try {
      printOutput(await verb(), json, term);
    } catch (e) {
      code = printError(e, term, json);
    }
  }, term, argv.includes('--json'));
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
