// The inventory filtered by what the database cannot express (identity patterns), read a page at a time.

import type { CertificateQuery, CertificateRecord, CertificateStore } from './ports.js';

/** Certificates read per page. */
const PAGE = 1000;
/** Per page for an interactive listing: smaller, so many at once still leave the event loop free often. */
const INTERACTIVE_PAGE = 250;

/**
 * The certificates `query` selects that `matches` accepts, at most `limit`, in the listing's notAfter order: read
 * a page at a time with the event loop free between pages, so a filter that matches little holds neither the
 * service nor its memory.
 */
export async function findMatching(store: Pick<CertificateStore, 'list'>, query: Omit<CertificateQuery, 'limit'>, matches: (record: CertificateRecord) => boolean, limit: number): Promise<CertificateRecord[]> {
  const found: CertificateRecord[] = [];
  for (let after: CertificateQuery['after'] = query.after; ; ) {
    const page = await store.list({ ...query, limit: PAGE, ...(after ? { after } : {}) });
    for (const record of page) {
      if (!matches(record)) continue;
      found.push(record);
      if (found.length >= limit) return found;
    }
    const last = page.at(-1);
    if (!last || page.length < PAGE) return found;
    after = { notAfter: last.notAfter, serial: last.serial };
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * Like {@link findMatching}, for one page of an interactive listing: reads at most `maxScan` certificates. When it
 * stops there with fewer than `limit` matches, `resumeAfter` is where the next page starts (the last one read).
 */
export async function findMatchingPage(store: Pick<CertificateStore, 'list'>, query: Omit<CertificateQuery, 'limit'>, matches: (record: CertificateRecord) => boolean, limit: number, maxScan: number): Promise<{ records: CertificateRecord[]; resumeAfter: CertificateRecord | undefined }> {
  const records: CertificateRecord[] = [];
  let scanned = 0;
  for (let after: CertificateQuery['after'] = query.after; ; ) {
    const page = await store.list({ ...query, limit: Math.min(INTERACTIVE_PAGE, maxScan - scanned), ...(after ? { after } : {}) });
    for (const record of page) {
      scanned++;
      if (matches(record)) records.push(record);
      if (records.length >= limit) return { records, resumeAfter: undefined };
    }
    const last = page.at(-1);
    if (!last || page.length < Math.min(INTERACTIVE_PAGE, maxScan - scanned + page.length)) return { records, resumeAfter: undefined };
    if (scanned >= maxScan) return { records, resumeAfter: last };
    after = { notAfter: last.notAfter, serial: last.serial };
    await new Promise((resolve) => setImmediate(resolve));
  }
}
