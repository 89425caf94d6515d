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
  return (await scan(store, query, matches, limit, Number.POSITIVE_INFINITY, PAGE)).records;
}

/**
 * Like {@link findMatching}, for one page of an interactive listing: reads at most `maxScan` certificates. When it
 * stops there with fewer than `limit` matches, `resumeAfter` is where the next page starts (the last one read).
 */
export function findMatchingPage(store: Pick<CertificateStore, 'list'>, query: Omit<CertificateQuery, 'limit'>, matches: (record: CertificateRecord) => boolean, limit: number, maxScan: number): Promise<{ records: CertificateRecord[]; resumeAfter: CertificateRecord | undefined }> {
  return scan(store, query, matches, limit, maxScan, INTERACTIVE_PAGE);
}

/** Reads `pageSize` certificates at a time until `limit` match, the listing ends, or `maxScan` were read. */
async function scan(store: Pick<CertificateStore, 'list'>, query: Omit<CertificateQuery, 'limit'>, matches: (record: CertificateRecord) => boolean, limit: number, maxScan: number, pageSize: number): Promise<{ records: CertificateRecord[]; resumeAfter: CertificateRecord | undefined }> {
  const records: CertificateRecord[] = [];
  let scanned = 0;
  for (let after: CertificateQuery['after'] = query.after; ; ) {
    const asked = Math.min(pageSize, maxScan - scanned);
    const page = await store.list({ ...query, limit: asked, ...(after ? { after } : {}) });
    for (const record of page) {
      scanned++;
      if (matches(record)) records.push(record);
      if (records.length >= limit) return { records, resumeAfter: undefined };
    }
    const last = page.at(-1);
    if (!last || page.length < asked) return { records, resumeAfter: undefined };
    if (scanned >= maxScan) return { records, resumeAfter: last };
    after = { notAfter: last.notAfter, serial: last.serial };
    await new Promise((resolve) => setImmediate(resolve));
  }
}
