// The inventory filtered by what the database cannot express (identity patterns), read a page at a time.

import type { CertificateQuery, CertificateRecord, CertificateStore } from './ports.js';

/** Certificates read per page. */
const PAGE = 1000;

/**
 * The certificates `query` selects that `matches` accepts, at most `limit`, in the listing's notAfter order: read
 * a page at a time with the event loop free between pages, so a filter that matches little holds neither the
 * service nor its memory.
 */
export async function findMatching(store: Pick<CertificateStore, 'list'>, query: Omit<CertificateQuery, 'limit' | 'after'>, matches: (record: CertificateRecord) => boolean, limit: number): Promise<CertificateRecord[]> {
  const found: CertificateRecord[] = [];
  for (let after: CertificateQuery['after']; ; ) {
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
