// The CA directory on disk: config.json, private keys (0600 in a 0700 folder), public certificates for operators, and the SQLite database unless the CA is on PostgreSQL.

import { createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { writeFileAtomic, writeFileExclusive } from '../files/atomic-write.js';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseCaConfig, type CaConfig, type CaConfigFile } from '../config/ca-config.js';
import { generateKeyPair, keyIdentifier, privateKeyFromPem, privateKeyToPem, spkiOf } from '../crypto/keys.js';
import { readPemLabelled, toPem } from '../crypto/pem.js';
import { CaError } from '../errors.js';

/** File names inside a CA directory. */
export const CA_FILES = {
  config: 'config.json',
  database: 'ca.db',
  rootCertificate: 'root.pem',
  intermediateCertificate: 'intermediate.pem',
  /** Where directories made before the hierarchy moved into the database kept the root's CRL (read once, imported). */
  legacyRootCrl: 'root.crl',
  /** Where directories made before the hierarchy moved into the database kept retired intermediates' certificates. */
  retiredDir: 'intermediates',
  privateDir: 'private',
  rootKey: join('private', 'root.key'),
  /** The intermediate made by `ca init`; those made by rotations are private/intermediates/<serial>.key. */
  intermediateKey: join('private', 'intermediate.key'),
  tokenKey: join('private', 'token.key'),
  auditKey: join('private', 'audit.key'),
  serveLock: 'serve.lock',
} as const;

/** Modes of a CA directory: nothing in it is for other local users (the inventory, audit log and key hashes included). */
export const CA_MODES = { dir: 0o700, file: 0o600 } as const;

/** The contents of a new CA directory. */
export interface NewCaDirectory {
  readonly config: CaConfigFile;
  readonly rootDer: Buffer;
  readonly intermediateDer: Buffer;
  /** Kept in private/ unless the operator takes it offline (`rootKeyOut`). */
  readonly rootKey: KeyObject;
  /** Where to write the root key instead of private/root.key (a file that must not exist yet). */
  readonly rootKeyOut?: string | undefined;
  readonly intermediateKey: KeyObject;
  /** Signs enrollment tokens; kept apart from the CA keys so no key signs two kinds of thing. */
  readonly tokenKey: KeyObject;
  /** Seals the audit chain and signs its heads; not passphrase-encrypted, since every command that audits needs it. */
  readonly auditKey: KeyObject;
  readonly passphrase: string | undefined;
  /** Encrypts the root key instead of `passphrase` (an offline root need not open with the passphrase the CA host uses). */
  readonly rootPassphrase?: string | undefined;
}

/** Refuses a path that already holds anything: `ca init` never touches an existing CA directory. */
export function assertFreshDirectory(dir: string): void {
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory() || readdirSync(dir).length > 0) {
    throw new CaError('ERR_CA_DIR_EXISTS', `store: ${dir} already exists and is not empty; refusing to touch it`);
  }
}

/**
 * Creates the CA directory in a temp sibling, then renames it into place, so a failed init leaves nothing
 * behind. `populate` runs against the temp path (e.g. to create the database) before the rename.
 */
export async function createCaDirectory(dir: string, content: NewCaDirectory, populate: (tmpDir: string) => Promise<void>): Promise<void> {
  const target = resolve(dir);
  assertFreshDirectory(target);
  mkdirSync(dirname(target), { recursive: true });
  const tmp = `${target}.init-${randomBytes(4).toString('hex')}`;
  try {
    mkdirSync(tmp, { mode: CA_MODES.dir });
    chmodSync(tmp, CA_MODES.dir);
    mkdirSync(join(tmp, CA_FILES.privateDir), { mode: CA_MODES.dir });
    chmodSync(join(tmp, CA_FILES.privateDir), CA_MODES.dir);
    if (content.rootKeyOut === undefined) writeFileAtomic(join(tmp, CA_FILES.rootKey), privateKeyToPem(content.rootKey, content.rootPassphrase ?? content.passphrase), CA_MODES.file);
    writeFileAtomic(join(tmp, CA_FILES.intermediateKey), privateKeyToPem(content.intermediateKey, content.passphrase), CA_MODES.file);
    writeFileAtomic(join(tmp, CA_FILES.tokenKey), privateKeyToPem(content.tokenKey, content.passphrase), CA_MODES.file);
    writeFileAtomic(join(tmp, CA_FILES.auditKey), privateKeyToPem(content.auditKey), CA_MODES.file);
    writeFileAtomic(join(tmp, CA_FILES.rootCertificate), toPem('CERTIFICATE', content.rootDer), CA_MODES.file);
    writeFileAtomic(join(tmp, CA_FILES.intermediateCertificate), toPem('CERTIFICATE', content.intermediateDer), CA_MODES.file);
    writeFileAtomic(join(tmp, CA_FILES.config), `${JSON.stringify(content.config, null, 2)}\n`, CA_MODES.file);
    await populate(tmp);
    // The offline root key is written last, where the operator asked, and only once everything else is in place.
    if (content.rootKeyOut !== undefined) writeRootKeyOut(content.rootKeyOut, privateKeyToPem(content.rootKey, content.rootPassphrase ?? content.passphrase));
    if (existsSync(target)) rmdirSync(target);
    renameSync(tmp, target);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Writes the root key to a file of the operator's choosing: 0600, never over an existing file. */
function writeRootKeyOut(path: string, pem: string): void {
  if (path.trim() === '') throw new CaError('ERR_USAGE', 'store: --root-key-out needs the name of a new file');
  const abs = resolve(path);
  if (isSymlink(abs)) throw new CaError('ERR_FILE_EXISTS', `store: ${path} is a symbolic link; the root key is written only to a new plain file`);
  if (existsSync(abs) && statSync(abs).isDirectory()) throw new CaError('ERR_FILE_WRITE', `store: ${path} is a directory; --root-key-out takes the name of a new file`);
  if (existsSync(abs)) throw new CaError('ERR_FILE_EXISTS', `store: ${path} already exists; the root key is never written over a file`);
  if (!existsSync(dirname(abs)) || !statSync(dirname(abs)).isDirectory()) throw new CaError('ERR_FILE_NOT_FOUND', `store: the folder of ${path} does not exist`);
  writeFileExclusive(abs, pem, CA_MODES.file);
  if (readFileSync(abs, 'utf8') !== pem) throw new CaError('ERR_FILE_EXISTS', `store: ${path} was created by someone else meanwhile`);
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** An intermediate key found in private/: the key, its key identifier (hex) and the file it came from. */
export interface IntermediateKey {
  readonly key: KeyObject;
  readonly keyIdHex: string;
  readonly file: string;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CaError('ERR_FILE_NOT_FOUND', `store: the ${what} (${path}) is missing`);
    if (code === 'EISDIR') throw new CaError('ERR_FILE_UNREADABLE', `store: the ${what} (${path}) is a directory, not a file`);
    throw new CaError('ERR_FILE_UNREADABLE', `store: cannot read the ${what} (${path}): ${code ?? 'error'}`, { cause: e });
  }
}

/** A CA directory opened for reading: its config; private keys load on demand. */
export class CaDirectory {
  readonly config: CaConfig;

  private constructor(readonly dir: string) {
    const configPath = join(dir, CA_FILES.config);
    const text = readText(configPath, 'CA config');
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw new CaError('ERR_CONFIG_INVALID', `config: ${configPath} is not valid JSON`);
    }
    this.config = parseCaConfig(raw, configPath);
  }

  /** Opens `dir`, refusing a folder that is not a CA directory. */
  static open(dir: string): CaDirectory {
    const abs = resolve(dir);
    if (!existsSync(abs)) throw new CaError('ERR_CA_DIR_MISSING', `store: CA directory ${dir} does not exist (create it with \`ca init --dir ${dir}\`)`);
    if (!statSync(abs).isDirectory()) throw new CaError('ERR_CA_DIR_MISSING', `store: ${dir} is a file, not a CA directory`);
    if (!existsSync(join(abs, CA_FILES.config))) {
      throw new CaError('ERR_CA_DIR_MISSING', `store: ${dir} is not a CA directory (no ${CA_FILES.config})`);
    }
    return new CaDirectory(abs);
  }

  get databasePath(): string {
    return join(this.dir, CA_FILES.database);
  }

  /** The root certificate in root.pem, if the directory has one (the database holds the authoritative copy). */
  rootCertificateFile(): Buffer | undefined {
    const path = join(this.dir, CA_FILES.rootCertificate);
    return existsSync(path) ? readPemLabelled(readText(path, 'root certificate'), ['CERTIFICATE'], 'root certificate')[0]! : undefined;
  }

  /** Writes root.pem and intermediate.pem (the newest intermediate) for operators and relying parties to copy. */
  writePublicCertificates(rootDer: Buffer, intermediateDer: Buffer): void {
    writeFileAtomic(join(this.dir, CA_FILES.rootCertificate), toPem('CERTIFICATE', rootDer), CA_MODES.file);
    writeFileAtomic(join(this.dir, CA_FILES.intermediateCertificate), toPem('CERTIFICATE', intermediateDer), CA_MODES.file);
  }

  /** True when the root key is in private/ (not taken offline). */
  get hasRootKey(): boolean {
    return existsSync(join(this.dir, CA_FILES.rootKey));
  }

  /**
   * The root key, from `file` (an offline copy brought in for a ceremony) or from private/root.key. Only creating
   * or rotating an intermediate and re-signing the root's CRL load it.
   */
  loadRootKey(passphrase: string | undefined, file?: string): KeyObject {
    if (file !== undefined) return privateKeyFromPem(readText(resolve(file), 'root CA key'), passphrase, 'root CA key');
    const path = join(this.dir, CA_FILES.rootKey);
    if (!existsSync(path)) {
      throw new CaError('ERR_ROOT_KEY_OFFLINE', `store: the root key is not in ${this.dir} (it was taken offline); pass --root-key FILE`);
    }
    return privateKeyFromPem(readText(path, 'root CA key'), passphrase, 'root CA key');
  }

  /** The root's CRL as a directory made before the hierarchy moved into the database kept it (root.crl), if any. */
  legacyRootCrl(): Buffer | undefined {
    const path = join(this.dir, CA_FILES.legacyRootCrl);
    return existsSync(path) ? readFileSync(path) : undefined;
  }

  /** Every intermediate key in private/ (intermediate.key and intermediates/*.key), whatever its name says. */
  intermediateKeys(passphrase: string | undefined): IntermediateKey[] {
    const files = [join(this.dir, CA_FILES.intermediateKey)];
    const retired = join(this.dir, CA_FILES.privateDir, CA_FILES.retiredDir);
    if (existsSync(retired)) files.push(...readdirSync(retired).filter((n) => /^[0-9a-f]+\.key$/.test(n)).sort().map((n) => join(retired, n)));
    return files
      .filter((file) => existsSync(file))
      .map((file) => {
        const key = privateKeyFromPem(readText(file, 'intermediate CA key'), passphrase, `intermediate CA key ${relativeName(this.dir, file)}`);
        return { key, file, keyIdHex: keyIdentifier(spkiOf(createPublicKey(key))).toString('hex') };
      });
  }

  /** Where a rotation writes the key of intermediate `serial`. */
  intermediateKeyPath(serial: string): string {
    return join(this.dir, CA_FILES.privateDir, CA_FILES.retiredDir, `${serial}.key`);
  }

  /** Writes a new intermediate's key (private/intermediates/<serial>.key, 0600, never over a file). */
  writeIntermediateKey(serial: string, key: KeyObject, passphrase: string | undefined): string {
    const folder = join(this.dir, CA_FILES.privateDir, CA_FILES.retiredDir);
    mkdirSync(folder, { recursive: true, mode: CA_MODES.dir });
    chmodSync(folder, CA_MODES.dir);
    const path = this.intermediateKeyPath(serial);
    writeFileExclusive(path, privateKeyToPem(key, passphrase), CA_MODES.file);
    return path;
  }

  /** Deletes a key file of this directory (an intermediate whose last leaf has expired signs nothing any more). */
  removeKeyFile(file: string): void {
    rmSync(file, { force: true });
  }

  /**
   * The audit key, and whether it is new. A directory made before the audit chain was keyed gets one now (0600,
   * written once even when several processes open the directory at the same moment), when `mayCreate` says its
   * database is that old; a key made less than a minute ago counts as new, for the other processes of such a moment.
   * A key missing from a newer CA is an error: a new one could not verify or extend its audit log.
   */
  auditKey(mayCreate: () => boolean): { key: KeyObject; fresh: boolean } {
    const path = join(this.dir, CA_FILES.auditKey);
    if (!existsSync(path)) {
      if (!mayCreate()) throw new CaError('ERR_KEY_MISMATCH', `store: ${path} is missing, and this CA's audit log is sealed with it: restore it from a backup of the CA directory's private/ folder (or copy it from a working replica)`);
      writeFileExclusive(path, privateKeyToPem(generateKeyPair('ec-p256').privateKey), CA_MODES.file);
    }
    const fresh = Date.now() - statSync(path).mtimeMs < 60_000;
    return { key: privateKeyFromPem(readText(path, 'audit key'), undefined, 'audit key'), fresh };
  }

  /** Every entry of the directory (and of private/) that other local users may read or enter, as "path (mode)". */
  looseModes(): string[] {
    const loose: string[] = [];
    const check = (path: string, isDir: boolean): void => {
      const mode = statSync(path).mode & 0o777;
      if ((mode & 0o077) !== 0) loose.push(`${path} (${mode.toString(8).padStart(4, '0')}, want ${(isDir ? CA_MODES.dir : CA_MODES.file).toString(8).padStart(4, '0')})`);
    };
    for (const dir of [this.dir, join(this.dir, CA_FILES.privateDir), join(this.dir, CA_FILES.retiredDir), join(this.dir, CA_FILES.privateDir, CA_FILES.retiredDir)]) {
      if (!existsSync(dir)) continue;
      check(dir, true);
      for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isFile()) check(join(dir, entry.name), false);
    }
    return loose;
  }

  /** Loads the enrollment token key, using `passphrase` when the keys are encrypted. */
  loadTokenKey(passphrase: string | undefined): KeyObject {
    return privateKeyFromPem(readText(join(this.dir, CA_FILES.tokenKey), 'enrollment token key'), passphrase, 'enrollment token key');
  }
}

/** `file` relative to the CA directory, as messages name it (private/intermediate.key). */
export function relativeName(dir: string, file: string): string {
  return file.startsWith(`${dir}/`) ? file.slice(dir.length + 1) : file;
}
