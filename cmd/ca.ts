#!/usr/bin/env node
// Entry point of the `ca` command: loads reflect-metadata before anything imports @peculiar/x509, then runs the CLI.

import 'reflect-metadata';
import { main } from '../src/cli/program.js';

process.exitCode = await main(process.argv);
