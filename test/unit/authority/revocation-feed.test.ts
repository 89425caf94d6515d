import { describe, expect, it } from 'vitest';
import { RevocationFeed, formatPosition, parsePosition, type FeedEvent, type FeedSink } from '../../../src/authority/revocation-feed.js';
import { generateKeyPair, spkiOf } from '../../../src/crypto/keys.js';
import { BACKENDS } from '../../helpers/databases.js';
import { createTestCa } from '../../helpers/test-ca.js';

const actor = { actor: 'test' };

/** A sink that keeps what it is sent; `full` makes it refuse (a subscriber that stopped reading). */
function sink(): FeedSink & { events: FeedEvent[]; closed: boolean; full: boolean } {
  const s = {
    events: [] as FeedEvent[],
    closed: false,
    full: false,
    send(e: FeedEvent) {
      if (s.full) return false;
      s.events.push(e);
      return true;
    },
    close() {
      s.closed = true;
    },
  };
  return s;
}
const revoked = (s: { events: FeedEvent[] }) => s.events.flatMap((e) => (e.kind === 'revoked' ? [e.revocation.serial] : []));
const settle = () => new Promise((r) => setTimeout(r, 20));

describe.each(BACKENDS)('RevocationFeed on %s', (backend) => {
  async function setup(options: { recentMs?: number; maxReplay?: number } = {}) {
    const t = await createTestCa({ backend });
    const leaves = await Promise.all(Array.from({ length: 6 }, (_, i) => t.authority.issue({ commonName: `l${i}`, spiffeId: `spiffe://acme.internal/l${i}`, key: { spki: spkiOf(generateKeyPair('ec-p256').privateKey) } }, actor)));
    let now = 1_000_000;
    const feed = new RevocationFeed({ source: t.store, statement: () => undefined, heartbeat: () => ({ crls: [] }), heartbeatMs: 3_600_000, now: () => now, ...options });
    await feed.start(0);
    return { ...t, feed, leaves, serials: leaves.map((l) => l.serial), advance: (ms: number) => (now += ms) };
  }

  it('ok/every revocation reaches every live subscriber once, in order, with its position', async () => {
    const { feed, authority, serials } = await setup();
    const a = sink();
    const b = sink();
    feed.subscribe(a);
    feed.subscribe(b);
    await settle();
    expect(a.events.map((e) => e.kind)).toEqual(['heartbeat']);
    for (const s of serials.slice(0, 3)) await authority.revoke(s, 'superseded', actor);
    await feed.poll();
    await feed.poll();
    expect(revoked(a)).toEqual(serials.slice(0, 3));
    expect(revoked(b)).toEqual(serials.slice(0, 3));
    expect(a.events.filter((e) => e.kind === 'revoked').map((e) => formatPosition(e.position))).toEqual(['1.0', '2.0', '3.0']);
    feed.stop();
    expect(a.closed && b.closed).toBe(true);
  });

  it('ok/a subscriber that names its last position gets what it missed, from memory or from the store, then live, never twice', async () => {
    const { feed, authority, serials, advance } = await setup({ recentMs: 60_000 });
    for (const s of serials.slice(0, 2)) await authority.revoke(s, 'unspecified', actor);
    await feed.poll();
    advance(120_000); // the first two leave memory at the next trim
    for (const s of serials.slice(2, 4)) await authority.revoke(s, 'unspecified', actor);
    await feed.poll();
    const fromStart = sink();
    feed.subscribe(fromStart, parsePosition('0.0'));
    const fromOne = sink();
    feed.subscribe(fromOne, parsePosition('1.0'));
    const fromThree = sink();
    feed.subscribe(fromThree, parsePosition('3.0'));
    await authority.revoke(serials[4]!, 'unspecified', actor); // while they catch up
    await feed.poll();
    await settle();
    await feed.poll();
    expect(revoked(fromStart)).toEqual(serials.slice(0, 5));
    expect(revoked(fromOne)).toEqual(serials.slice(1, 5));
    expect(revoked(fromThree)).toEqual(serials.slice(3, 5));
  });

  it('fail/a position ahead of the feed, or further behind than it replays, gets resync (refetch the CRLs) and continues from the head', async () => {
    const { feed, authority, serials } = await setup({ maxReplay: 2 });
    for (const s of serials.slice(0, 4)) await authority.revoke(s, 'unspecified', actor);
    await feed.poll();
    const ahead = sink();
    feed.subscribe(ahead, parsePosition('99.0'));
    const behind = sink();
    feed.subscribe(behind, parsePosition('0.0'));
    await settle();
    for (const s of [ahead, behind]) {
      expect(s.events[0]!.kind).toBe('resync');
      expect(revoked(s)).toEqual([]);
    }
    await authority.revoke(serials[4]!, 'unspecified', actor);
    await feed.poll();
    expect(revoked(ahead)).toEqual([serials[4]]);
    expect(revoked(behind)).toEqual([serials[4]]);
    expect(parsePosition('1.x')).toBeUndefined();
    expect(parsePosition('12.3')).toEqual({ revocation: 12, advice: 3 });
  });

  it('ok/renewal advice is an event too; a subscriber that stops reading is dropped, the others go on', async () => {
    const { feed, authority, serials } = await setup();
    const slow = sink();
    const fast = sink();
    feed.subscribe(slow);
    feed.subscribe(fast);
    await settle();
    slow.full = true;
    await authority.adviseRenewal({ kind: 'all' }, 600, actor);
    await authority.revoke(serials[0]!, 'unspecified', actor);
    await feed.poll();
    expect(slow.closed).toBe(true);
    expect(feed.size).toBe(1);
    expect(fast.events.filter((e) => e.kind !== 'heartbeat').map((e) => [e.kind, formatPosition(e.position)])).toEqual([['revoked', '1.0'], ['renew', '1.1']]);
  });
});
