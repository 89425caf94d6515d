// The CA directory on disk: config.json, public certificates, private keys (0600 in a 0700 folder) and the database.

import { randomBytes, type KeyObject } from 'node:crypto';
import { writeFileAtomic, writeFileExclusive } from '../files/atomic-write.js';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseCaConfig, type CaConfig, type CaConfigFile } from '../config/ca-config.js';
import { generateKeyPair, privateKeyFromPem, privateKeyToPem } from '../crypto/keys.js';
import { readPemLabelled, toPem } from '../crypto/pem.js';
import { CaError } from '../errors.js';

/** File names inside a CA directory. */
export const CA_FILES = {
  config: 'config.json',
  database: 'ca.db',
  rootCertificate: 'root.pem',
  intermediateCertificate: 'intermediate.pem',
  /** The root's CRL (DER), signed with a long validity at init and at each rotation, so the root can stay offline. */
  rootCrl: 'root.crl',
  /** Intermediates replaced by a rotation, kept (with their keys under private/) until their last leaf expires. */
  retiredDir: 'intermediates',
  privateDir: 'private',
  rootKey: join('private', 'root.key'),
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
export function createCaDirectory(dir: string, content: NewCaDirectory, populate: (tmpDir: string) => void): void {
  const target = resolve(dir);
  assertFreshDirectory(target);
  mkdirSync(dirname(target), { recursive: true });
  const tmp = `${target}.init-${randomBytes(4).toString('hex')}`;
  try {
    mkdirSync(tmp, { mode: CA_MODES.dir });
    chmodSync(tmp, CA_MODES.dir);
    mkdirSync(join(tmp, CA_FILES.privateDir), { mode: CA_MODES.dir });
    chmodSync(join(tmp, CA_FILES.privateDir), CA_MODES.dir);
    if (content.rootKeyOut === undefined) writeFileAtomic(join(tmp, CA_FILES.rootKey), privateKeyToPem(content.rootKey, content.passphrase), CA_MODES.file);
    writeFileAtomic(join(tmp, CA_FILES.intermediateKey), privateKeyToPem(content.intermediateKey, content.passphrase), CA_MODES.file);
    writeFileAtomic(join(tmp, CA_FILES.tokenKey), privateKeyToPem(content.tokenKey, content.passphrase), CA_MODES.file);
    writeFileAtomic(join(tmp, CA_FILES.auditKey), privateKeyToPem(content.auditKey), CA_MODES.file);
    writeFileAtomic(join(tmp, CA_FILES.rootCertificate), toPem('CERTIFICATE', content.rootDer), CA_MODES.file);
    writeFileAtomic(join(tmp, CA_FILES.intermediateCertificate), toPem('CERTIFICATE', content.intermediateDer), CA_MODES.file);
    writeFileAtomic(join(tmp, CA_FILES.config), `${JSON.stringify(content.config, null, 2)}\n`, CA_MODES.file);
    populate(tmp);
    // The offline root key is written last, where the operator asked, and only once everything else is in place.
    if (content.rootKeyOut !== undefined) writeRootKeyOut(content.rootKeyOut, privateKeyToPem(content.rootKey, content.passphrase));
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

/** A retired intermediate on disk: its certificate, and where its key is. */
export interface RetiredIntermediate {
  readonly der: Buffer;
  readonly serial: string;
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

/** A CA directory opened for reading: config and public certificates; private keys load on demand. */
export class CaDirectory {
  readonly config: CaConfig;
  readonly rootDer: Buffer;
  readonly intermediateDer: Buffer;

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
    this.rootDer = readPemLabelled(readText(join(dir, CA_FILES.rootCertificate), 'root certificate'), ['CERTIFICATE'], 'root certificate')[0]!;
    this.intermediateDer = readPemLabelled(readText(join(dir, CA_FILES.intermediateCertificate), 'intermediate certificate'), ['CERTIFICATE'], 'intermediate certificate')[0]!;
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

  /** The root's published CRL (DER), or undefined in a directory made before it was kept on disk. */
  rootCrl(): Buffer | undefined {
    const path = join(this.dir, CA_FILES.rootCrl);
    return existsSync(path) ? readFileSync(path) : undefined;
  }

  writeRootCrl(der: Buffer): void {
    writeFileAtomic(join(this.dir, CA_FILES.rootCrl), der, CA_MODES.file);
  }

  /** The current intermediate, read afresh (a rotation by another process replaces it). */
  currentIntermediateDer(): Buffer {
    return readPemLabelled(readText(join(this.dir, CA_FILES.intermediateCertificate), 'intermediate certificate'), ['CERTIFICATE'], 'intermediate certificate')[0]!;
  }

  /** Changes whenever a rotation replaces the current intermediate (cheap enough to poll every second). */
  intermediateStamp(): string {
    const st = statSync(join(this.dir, CA_FILES.intermediateCertificate));
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  }

  /** Changes whenever root.crl is rewritten. */
  rootCrlStamp(): string {
    try {
      const st = statSync(join(this.dir, CA_FILES.rootCrl));
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return 'missing';
    }
  }

  /** The retired intermediates on disk, oldest first by name. */
  retiredIntermediates(): RetiredIntermediate[] {
    const dir = join(this.dir, CA_FILES.retiredDir);
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((name) => /^[0-9a-f]+\.pem$/.test(name))
      .sort()
      .map((name) => ({ serial: name.slice(0, -4), der: readPemLabelled(readText(join(dir, name), 'retired intermediate'), ['CERTIFICATE'], 'retired intermediate')[0]! }));
  }

  loadRetiredKey(serial: string, passphrase: string | undefined): KeyObject {
    const what = `retired intermediate key ${serial}`;
    return privateKeyFromPem(readText(join(this.dir, CA_FILES.privateDir, CA_FILES.retiredDir, `${serial}.key`), what), passphrase, what);
  }

  /**
   * Replaces the current intermediate: the old certificate and key are first copied to intermediates/ and
   * private/intermediates/ (so a crash at any point leaves both usable), then the new key and certificate are
   * renamed into place, key first. Readers that see the new certificate before its key retry.
   */
  rotateIntermediate(oldSerial: string, newDer: Buffer, newKey: KeyObject, passphrase: string | undefined): void {
    const retired = join(this.dir, CA_FILES.retiredDir);
    const retiredKeys = join(this.dir, CA_FILES.privateDir, CA_FILES.retiredDir);
    for (const d of [retired, retiredKeys]) {
      mkdirSync(d, { recursive: true, mode: CA_MODES.dir });
      chmodSync(d, CA_MODES.dir);
    }
    writeFileAtomic(join(retiredKeys, `${oldSerial}.key`), readFileSync(join(this.dir, CA_FILES.intermediateKey)), CA_MODES.file);
    writeFileAtomic(join(retired, `${oldSerial}.pem`), readFileSync(join(this.dir, CA_FILES.intermediateCertificate)), CA_MODES.file);
    writeFileAtomic(join(this.dir, CA_FILES.intermediateKey), privateKeyToPem(newKey, passphrase), CA_MODES.file);
    writeFileAtomic(join(this.dir, CA_FILES.intermediateCertificate), toPem('CERTIFICATE', newDer), CA_MODES.file);
  }

  /** Deletes a retired intermediate whose last leaf has expired: its key signs nothing any more. */
  dropRetired(serial: string): void {
    rmSync(join(this.dir, CA_FILES.privateDir, CA_FILES.retiredDir, `${serial}.key`), { force: true });
    rmSync(join(this.dir, CA_FILES.retiredDir, `${serial}.pem`), { force: true });
  }

  /**
   * The audit key, and whether it is new. A directory made before the audit chain was keyed gets one now (0600,
   * written once even when several processes open the directory at the same moment); a key made less than a
   * minute ago counts as new, for the other processes of such a moment.
   */
  auditKey(): { key: KeyObject; fresh: boolean } {
    const path = join(this.dir, CA_FILES.auditKey);
    if (!existsSync(path)) writeFileExclusive(path, privateKeyToPem(generateKeyPair('ec-p256').privateKey), CA_MODES.file);
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

  /** Loads a CA private key, using `passphrase` when the keys are encrypted. */
  loadKey(which: 'intermediate' | 'token', passphrase: string | undefined): KeyObject {
    const path = join(this.dir, which === 'intermediate' ? CA_FILES.intermediateKey : CA_FILES.tokenKey);
    const what = which === 'token' ? 'enrollment token key' : 'intermediate CA key';
    return privateKeyFromPem(readText(path, what), passphrase, what);
  }
}
