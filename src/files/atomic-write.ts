// Writing a file so that readers see the old content or the new, never half of either (keys, certificates, CRLs).

import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, linkSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CaError } from '../errors.js';

/**
 * Writes `data` to `path` atomically (temp file in the same folder, fsync, rename) with `mode`, so a reader
 * sees the old file or the new one, never half of either.
 */
export function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): void {
  writeThenPlace(path, data, mode, (tmp) => renameSync(tmp, path));
}

/**
 * Writes `data` to `path` only if nothing is there yet, complete or not at all: when two processes race, one
 * file wins whole and the other's is discarded (a hard link never replaces an existing name).
 */
export function writeFileExclusive(path: string, data: string | Buffer, mode = 0o600): void {
  writeThenPlace(path, data, mode, (tmp) => {
    try {
      linkSync(tmp, path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    rmSync(tmp, { force: true });
  });
}

function writeThenPlace(path: string, data: string | Buffer, mode: number, place: (tmp: string) => void): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fd = openSync(tmp, 'wx', mode);
    try {
      writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, mode);
    place(tmp);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new CaError('ERR_FILE_WRITE', `store: could not write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
}

