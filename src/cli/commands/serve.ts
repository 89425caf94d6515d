// `ca serve`: run the CA service on a directory until SIGTERM or SIGINT.

import { parseListenAddress, startService } from '../../server/serve.js';
import { CaError } from '../../errors.js';
import type { CommandOutput } from '../output.js';

export interface ServeArgs {
  dir: string;
  listen: string;
  httpListen: string;
  rateLimit: string;
  signingWorkers?: string;
  passphrase: string | undefined;
}

export async function serve(args: ServeArgs): Promise<CommandOutput> {
  const rateLimitPerSecond = Number(args.rateLimit);
  if (!Number.isSafeInteger(rateLimitPerSecond) || rateLimitPerSecond < 1) throw new CaError('ERR_USAGE', `cli: --rate-limit must be a positive whole number of requests per second`);
  const signingWorkers = args.signingWorkers === undefined ? undefined : Number(args.signingWorkers);
  if (signingWorkers !== undefined && (!Number.isSafeInteger(signingWorkers) || signingWorkers < 0 || signingWorkers > 64)) {
    throw new CaError('ERR_USAGE', 'cli: --signing-workers must be a whole number from 0 to 64');
  }
  const service = await startService({
    dir: args.dir,
    listen: parseListenAddress(args.listen, '--listen'),
    httpListen: parseListenAddress(args.httpListen, '--http-listen'),
    passphrase: args.passphrase,
    rateLimitPerSecond,
    ...(signingWorkers === undefined ? {} : { signingWorkers }),
  });
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  await service.close();
  return { data: { stopped: signal }, human: '' };
}
