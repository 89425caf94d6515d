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
  const dir = dirname(resolve(path));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CaError('ERR_FILE_WRITE', `cli: cannot write the ${what}: folder ${dir} does not exist`);
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
