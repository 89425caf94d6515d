// `ca renew-now`: move the renewal window of the leaves a selector covers to now, on a local CA directory or a running CA.

import { ADVICE_WITHIN_DEFAULT_SECONDS, adviseRenewal, adviceJson, parseIssuedBefore, selectorJson, type AdviceSelector } from '../../authority/renewal-advice.js';
import { formatDuration, parseDuration } from '../../config/duration.js';
import { systemClock } from '../../crypto/clock.js';
import { normalizeSerial } from '../../crypto/serial.js';
import { CaError } from '../../errors.js';
import type { CommandOutput } from '../output.js';
import { connect, type RemoteArgs } from './remote.js';
import { notASerial } from './revoke.js';
import { localActor, withLocalCa } from './shared.js';

export interface RenewNowArgs {
  serial?: string;
  identity?: string;
  issuedBefore?: string;
  all?: boolean;
  within?: string;
  explanationUrl?: string;
}

/** What the command answers, locally and remotely: the API's shape. */
export interface RenewNowResult {
  id: number;
  selector: ReturnType<typeof selectorJson>;
  suggestedWindow: { start: string; end: string };
  explanationURL?: string;
  matching: number;
  matchingCapped?: boolean;
}

/** The one selector the flags name (`--serial`, `--identity`, `--issued-before` or `--all`). */
function selectorOf(args: RenewNowArgs): AdviceSelector {
  const given = [args.serial !== undefined && '--serial', args.identity !== undefined && '--identity', args.issuedBefore !== undefined && '--issued-before', args.all === true && '--all'].filter((x): x is string => x !== false);
  if (given.length !== 1) throw new CaError('ERR_USAGE', `cli: give exactly one of --serial S, --identity PATTERN, --issued-before TIME or --all (got ${given.length === 0 ? 'none' : given.join(', ')})`);
  if (args.serial !== undefined) {
    if (normalizeSerial(args.serial) === null) throw notASerial(args.serial);
    return { kind: 'serial', serial: args.serial };
  }
  if (args.identity !== undefined) return { kind: 'identity', pattern: args.identity };
  if (args.issuedBefore !== undefined) return { kind: 'issued-before', before: parseIssuedBefore(args.issuedBefore) };
  return { kind: 'all' };
}

const withinOf = (args: RenewNowArgs): number => (args.within === undefined ? ADVICE_WITHIN_DEFAULT_SECONDS : parseDuration(args.within));

function describe(s: RenewNowResult['selector']): string {
  if ('serial' in s) return `certificate ${s.serial}`;
  if ('identity' in s) return `leaves matching ${s.identity}`;
  if ('issuedBefore' in s) return `leaves issued before ${s.issuedBefore}`;
  return 'every leaf';
}

function render(r: RenewNowResult): CommandOutput<RenewNowResult> {
  const count = `${r.matchingCapped ? 'at least ' : ''}${r.matching} unexpired certificate${r.matching === 1 ? '' : 's'}`;
  const human = [
    `renew-now rule ${r.id} for ${describe(r.selector)} (issued until now): renew between ${r.suggestedWindow.start} and ${r.suggestedWindow.end}`,
    `  it covers ${count} (the CA service's own renew themselves)`,
    '  `ca renew --daemon` and meshca/tls sources pick it up from the push stream at once, else at their next renewal-info poll, and renew at a random moment inside the window',
  ].join('\n');
  return { data: r, human, notes: r.matching === 0 ? ['no unexpired, unrevoked certificate matches now; the rule is kept anyway (it covers nothing issued after it)'] : [] };
}

/** `ca renew-now --dir DIR`: recorded in the directory's database; needs no CA key or passphrase. */
export function renewNow(args: RenewNowArgs & { dir: string }): Promise<CommandOutput> {
  const selector = selectorOf(args);
  const within = withinOf(args);
  return withLocalCa(args.dir, async (ca) => {
    const ctx = { store: ca.store, clock: systemClock, trustDomain: ca.directory.config.trustDomain };
    return render(adviceJson(await adviseRenewal(ctx, selector, within, { actor: localActor() }, args.explanationUrl)) as unknown as Parameters<typeof render>[0]);
  });
}

/** `ca renew-now --ca-url`: through the API, with an API key that has the revoke scope. */
export async function renewNowRemote(args: RenewNowArgs & RemoteArgs & { apiKey?: string }): Promise<CommandOutput> {
  const selector = selectorOf(args);
  const within = withinOf(args);
  if (args.apiKey === undefined) throw new CaError('ERR_USAGE', 'cli: with --ca-url, renew-now needs an API key with the revoke scope (--api-key-file F or $MESHCA_API_KEY)');
  const body = { ...selectorJson(selector), within: formatDuration(within), ...(args.explanationUrl === undefined ? {} : { explanationUrl: args.explanationUrl }) };
  return render(await connect(args).call<RenewNowResult>('POST', '/v1/renewal-advice', { bearer: args.apiKey }, body));
}
