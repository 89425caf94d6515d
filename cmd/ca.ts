#!/usr/bin/env node
// Entry point of the `ca` command: loads reflect-metadata before anything imports @peculiar/x509, then runs the CLI.

import 'reflect-metadata';
import { main } from '../src/cli/program.js';

// A reader that goes away (`ca audit --json | head`) ends the output, quietly: no EPIPE stack. A closed stderr
// must not stop a daemon, so its errors are dropped.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  process.exit(process.exitCode ?? 0);
});
process.stderr.on('error', () => undefined);

process.exitCode = await main(process.argv);
