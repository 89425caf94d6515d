// File and secret input for CLI verbs: reading user-named files and the CA passphrase with clear errors.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CaError } from '../errors.js';

/** Largest file the CLI reads (certificates, CSRs, CRLs); more is not a PKI object meshca made. */
export const MAX_INPUT_BYTES = 64 * 1024 * 1024;

/** Reads a file named on the command line. */
export function readInputFile(path: string, what: string): Buffer {
  try {
    if (statSync(path).size > MAX_INPUT_BYTES) throw new CaError('ERR_FILE_UNREADABLE', `cli: the ${what} ${path} is larger than ${MAX_INPUT_BYTES / 1024 / 1024} MiB`);
    return readFileSync(path);
  } catch (e) {
    if (e instanceof CaError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CaError('ERR_FILE_NOT_FOUND', `cli: the ${what} ${path} does not exist`);
    if (code === 'EISDIR') throw new CaError('ERR_FILE_UNREADABLE', `cli: the ${what} ${path} is a directory`);
    throw new CaError('ERR_FILE_UNREADABLE', `cli: cannot read the ${what} ${path} (${code ?? 'error'})`);
  }
}

/** Refuses an output path whose folder does not exist, or an existing file unless `overwrite`. */
export function checkOutputPath(path: string, what: string, overwrite: boolean): void {
  if (path === '') throw new CaError('ERR_USAGE', `cli: the ${what} needs a file name (the path given is empty)`);
  const dir = dirname(resolve(path));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CaError('ERR_FILE_WRITE', `cli: cannot write the ${what}: folder ${dir} does not exist`);
  if (existsSync(path) && statSync(path).isDirectory()) throw new CaError('ERR_FILE_WRITE', `cli: cannot write the ${what}: ${path} is a directory (give a file name)`);
  // Files are written beside the target and renamed over it: a device, pipe or socket would be replaced by a file.
  if (existsSync(path) && !statSync(path).isFile()) throw new CaError('ERR_FILE_WRITE', `cli: cannot write the ${what}: ${path} is not a regular file (a device, pipe or socket); give a file name`);
  if (!overwrite && existsSync(path)) throw new CaError('ERR_FILE_WRITE', `cli: ${path} already exists; pass --force to replace the ${what}`);
}

/** The CA passphrase: from --passphrase-file (first line) or CA_PASSPHRASE; undefined when neither is given. */
export function readPassphrase(passphraseFile: string | undefined): string | undefined {
  if (passphraseFile !== undefined) {
    const text = readInputFile(passphraseFile, 'passphrase file').toString('utf8').replace(/\r?\n.*$/s, '');
    if (text === '') throw new CaError('ERR_PASSPHRASE_REQUIRED', `cli: the passphrase file ${passphraseFile} is empty`);
    return text;
  }
  const env = process.env.CA_PASSPHRASE;
  return env === undefined || env === '' ? undefined : env;
}

/**
 * The root key's own passphrase: the first line of `file`, else $ROOT_CA_PASSPHRASE; undefined when the root key opens
 * with the CA passphrase (the default).
 */
export function readRootPassphrase(file: string | undefined): string | undefined {
  if (file !== undefined) {
    const text = readInputFile(file, 'root passphrase file').toString('utf8').replace(/\r?\n.*$/s, '');
    if (text === '') throw new CaError('ERR_PASSPHRASE_REQUIRED', `cli: the root passphrase file ${file} is empty`);
    return text;
  }
  const env = process.env.ROOT_CA_PASSPHRASE;
  return env === undefined || env === '' ? undefined : env;
}

/** Where a secret (API key, enrollment token) may come from, in the order they are tried. */
export interface SecretSources {
  /** What the secret must look like, and what it is called in the error when it does not. */
  readonly shape?: { readonly test: RegExp; readonly what: string };
  /** The value given on the command line (visible to every local user in `ps`: prefer the file or the variable). */
  readonly value?: string | undefined;
  /** A file whose first line is the secret. */
  readonly file?: string | undefined;
  /** The environment variable holding it. */
  readonly env: string;
}

/** The secret from `--x`, `--x-file` or the environment variable, or undefined when none is given. */
export function readSecret(sources: SecretSources, flag: string): string | undefined {
  if (sources.value !== undefined && sources.file !== undefined) throw new CaError('ERR_USAGE', `cli: give --${flag} or --${flag}-file, not both`);
  const checked = (text: string, from: string): string => {
    if (sources.shape && !sources.shape.test.test(text)) throw new CaError('ERR_USAGE', `cli: ${from} holds no ${sources.shape.what}`);
    return text;
  };
  if (sources.file !== undefined) {
    const text = readInputFile(sources.file, `--${flag}-file`).toString('utf8').replace(/\r?\n.*$/s, '').trim();
    if (text === '') throw new CaError('ERR_USAGE', `cli: the --${flag}-file ${sources.file} is empty`);
    return checked(text, `the --${flag}-file ${sources.file}`);
  }
  if (sources.value !== undefined) return sources.value;
  const env = sources.env === '' ? undefined : process.env[sources.env]?.trim();
  return env === undefined || env === '' ? undefined : checked(env, `$${sources.env}`);
}
