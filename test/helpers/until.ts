// Waiting in tests for something a real process or socket does: polled, with a deadline that names what was awaited.

/** Resolves with `check()`'s first truthy value; throws naming `what` after `ms`. */
export async function until<T>(what: string, check: () => T | undefined | null | false, ms = 15_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
