// The operator dashboard in a real browser: Debian's chromium driven by playwright-core against a real `ca serve` with
// a few hundred certificates. What each key's scopes allow is what the page offers; what it does is checked outside.

import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { toPem } from '../../src/crypto/pem.js';
import { createCsr } from '../../src/pki/csr.js';
import { ocspStatus } from '../helpers/replicas.js';
import { ca, caJson } from '../helpers/run.js';
import { httpsRequest, startCa, type RunningCa } from '../helpers/service.js';

const CHROMIUM = '/usr/bin/chromium';
const TD = 'acme.internal';
const CERTIFICATES = 300;
/** Screenshots of each test, for a person to look at (not compared). */
const SHOTS = fileURLToPath(new URL('../../test-results/dashboard/', import.meta.url));
const hasChromium = (() => {
  try {
    readFileSync(CHROMIUM);
    return true;
  } catch {
    return false;
  }
})();

/** Waits until `locator`'s text matches (playwright-core has no assertions of its own). */
async function seeText(locator: Locator, want: string | RegExp, timeout = 10_000): Promise<string> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const text = (await locator.count()) > 0 ? ((await locator.first().textContent()) ?? '') : '';
    if (typeof want === 'string' ? text.includes(want) : want.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`expected ${String(want)} in ${JSON.stringify(text.slice(0, 300))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until `locator` matches `n` elements. */
async function seeCount(locator: Locator, n: number, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while ((await locator.count()) !== n) {
    if (Date.now() > deadline) throw new Error(`expected ${n} elements, found ${await locator.count()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The SHA-256 of the service certificate's public key, base64: the one certificate this browser is told to accept. */
function servicePin(port: number, rootPem: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca: rootPem, servername: 'localhost' }, () => {
      const cert = s.getPeerX509Certificate()!;
      s.destroy();
      resolve(createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('base64'));
    });
    s.on('error', reject);
  });
}

describe.skipIf(!hasChromium)('the dashboard in chromium', () => {
  const root = mkdtempSync(join(tmpdir(), 'meshca-ui-'));
  const dir = join(root, 'ca');
  let svc: RunningCa;
  let browser: Browser;
  let rootPem: string;
  const keys = { viewer: '', ops: '' };
  const leaves = new Map<string, string>();

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    expect(ca(['init', '--dir', dir, '--name', 'Dashboard CA', '--trust-domain', TD]).code).toBe(0);
    keys.viewer = ca(['apikey', 'create', '--dir', dir, '--name', 'viewer', '--scope', 'list']).stdout.trim();
    keys.ops = ca(['apikey', 'create', '--dir', dir, '--name', 'ops', '--scope', `list,revoke,audit,apikeys,issue:spiffe:spiffe://${TD}/**`]).stdout.trim();
    // Operators under spiffe://TD/operators/ sign in with their certificate, to read the inventory and the audit log.
    const configPath = join(dir, 'config.json');
    writeFileSync(configPath, JSON.stringify({ ...JSON.parse(readFileSync(configPath, 'utf8')), operators: [{ spiffeId: `spiffe://${TD}/operators/*`, scopes: ['list', 'audit'] }] }));
    svc = await startCa(dir, { args: ['--rate-limit', '100000'] });
    rootPem = readFileSync(join(dir, 'root.pem'), 'utf8');
    // A few hundred services, issued over the API with the ops key, 16 at a time.
    const names = Array.from({ length: CERTIFICATES }, (_, i) => `svc-${String(i).padStart(3, '0')}`);
    for (let i = 0; i < names.length; i += 16) {
      await Promise.all(names.slice(i, i + 16).map(async (name) => {
        const body = JSON.stringify({ csr: toPem('CERTIFICATE REQUEST', createCsr(generateKeyPair('ec-p256').privateKey, name)), name, spiffeId: `spiffe://${TD}/ns/shop/${name}` });
        const r = await httpsRequest(`${svc.url}/v1/sign`, { method: 'POST', ca: rootPem, headers: { authorization: `Bearer ${keys.ops}`, 'content-type': 'application/json' }, body });
        expect(r.status).toBe(201);
        leaves.set(name, r.json().certificate as string);
      }));
    }
    // Alice's operator certificate, as any service gets one.
    const aliceKey = generateKeyPair('ec-p256').privateKey;
    const alice = await httpsRequest(`${svc.url}/v1/sign`, { method: 'POST', ca: rootPem, headers: { authorization: `Bearer ${keys.ops}`, 'content-type': 'application/json' }, body: JSON.stringify({ csr: toPem('CERTIFICATE REQUEST', createCsr(aliceKey, 'alice')), name: 'alice', spiffeId: `spiffe://${TD}/operators/alice` }) });
    expect(alice.status).toBe(201);
    writeFileSync(join(root, 'alice.pem'), alice.json().certificate as string);
    writeFileSync(join(root, 'alice.key'), aliceKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    const pin = await servicePin(svc.httpsPort, rootPem);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), '--disable-background-networking', '--disable-component-update', '--no-first-run', `--ignore-certificate-errors-spki-list=${pin}`],
    });
  }, 120_000);

  // Every tab a test opened is closed after it, whether it passed or not.
  const contexts: BrowserContext[] = [];
  afterEach(async () => {
    await Promise.all(contexts.splice(0).map((c) => c.close().catch(() => undefined)));
  });

  afterAll(async () => {
    await browser?.close();
    await svc?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  /** A fresh browser tab (its own sessionStorage), signed in with `key`. */
  async function signedIn(key: string, viewport = { width: 1280, height: 800 }): Promise<Page> {
    const context = await browser.newContext({ viewport });
    contexts.push(context);
    const page = await context.newPage();
    const problems: string[] = [];
    // An HTTP error the page shows (a refusal the test asks for) is not a script error.
    page.on('console', (m) => void (m.type() === 'error' && !m.text().startsWith('Failed to load resource') && problems.push(m.text())));
    page.on('pageerror', (e) => problems.push(e.message));
    (page as Page & { problems: string[] }).problems = problems;
    await page.goto(`${svc.url.replace('127.0.0.1', 'localhost')}/ui/`);
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    return page;
  }
  const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const noScriptErrors = (page: Page) => expect((page as Page & { problems: string[] }).problems).toEqual([]);

  it('fail/a wrong key is told so, and nothing else is shown', async () => {
    const page = await signedIn('mca_0123456789abcdef_notarealsecretnotarealsecretnotarealsecret0');
    await seeText(page.getByRole('alert'), 'That API key was not accepted');
    expect(await page.getByRole('navigation').isHidden()).toBe(true);
    await shot(page, 'wrong-key');
    await page.context().close();
  });

  it('ok/a list-only key sees the fleet and finds a certificate by SPIFFE ID, with no revoke button and no pages it may not use', async () => {
    const page = await signedIn(keys.viewer);
    await page.getByRole('heading', { name: 'Overview' }).first().waitFor({ state: 'visible' });
    await seeText(page.locator('.card').first(), String(CERTIFICATES + 1)); // and alice's operator certificate
    await page.getByText('CRLs published').first().waitFor({ state: 'visible' });
    const links = await page.getByRole('navigation').getByRole('link').allTextContents();
    expect(links).toEqual(['Overview', 'Certificates']);
    await shot(page, 'overview-list-key');
    await page.getByRole('link', { name: 'Certificates' }).click();
    await page.getByLabel('Search by SPIFFE ID, DNS name, address or serial').fill(`spiffe://${TD}/ns/shop/svc-042`);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator('table a').first().click();
    await seeText(page.locator('#cert-status'), /^valid$/);
    await page.getByText(`spiffe://${TD}/ns/shop/svc-042`).first().waitFor({ state: 'visible' });
    expect(await page.getByRole('button', { name: /Revoke/ }).count()).toBe(0);
    await shot(page, 'certificate-list-key');
    // The pages it may not use are not offered, and the API refuses them anyway.
    await page.goto(`${svc.url.replace('127.0.0.1', 'localhost')}/ui/#/keys`);
    await page.getByText('do not cover this page').first().waitFor({ state: 'visible' });
    const refused = await httpsRequest(`${svc.url}/v1/apikeys`, { ca: rootPem, headers: { authorization: `Bearer ${keys.viewer}` } });
    expect(refused.status).toBe(403);
    noScriptErrors(page);
    await page.context().close();
  });

  it('ok/a revoke key finds a certificate by SPIFFE ID and revokes it: the page shows the CRL that carries it, and OCSP says revoked', async () => {
    const page = await signedIn(keys.ops);
    await page.getByRole('link', { name: 'Certificates' }).click();
    await page.getByLabel('Search by SPIFFE ID, DNS name, address or serial').fill(`spiffe://${TD}/ns/shop/svc-007`);
    await page.getByRole('button', { name: 'Search' }).click();
    await seeCount(page.locator('table tbody tr'), 1);
    await page.locator('table a').first().click();
    await page.getByRole('button', { name: 'Revoke…' }).click();
    await page.getByLabel('Reason').selectOption('keyCompromise');
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
    await seeText(page.locator('#cert-status'), /revoked .* \(keyCompromise\); listed in CRL number \d+/, 15_000);
    await shot(page, 'certificate-revoked');
    // Outside the browser: the CA's OCSP responder says so.
    const leaf = leaves.get('svc-007')!;
    const chain = (await httpsRequest(`${svc.url}/v1/trust-bundle`, { ca: rootPem })).body;
    const intermediate = chain.split('-----END CERTIFICATE-----').filter((p) => p.includes('BEGIN'))[1]! + '-----END CERTIFICATE-----\n';
    expect(await ocspStatus(svc.httpUrl, leaf, intermediate)).toBe('revoked');
    noScriptErrors(page);
    await page.context().close();
  });

  it('ok/an API key is created (shown once) and revoked from the dashboard; the audit page shows both, and the chain verifies', async () => {
    const page = await signedIn(keys.ops);
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByLabel('Name').fill('ci-reader');
    await page.getByRole('checkbox', { name: 'list' }).check();
    await page.getByRole('button', { name: 'Create API key' }).click();
    const created = (await page.locator('#new-key').textContent())!;
    expect(created).toMatch(/^mca_[0-9a-f]{16}_[A-Za-z0-9_-]+$/);
    const whoami = await httpsRequest(`${svc.url}/v1/whoami`, { ca: rootPem, headers: { authorization: `Bearer ${created}` } });
    expect(whoami.json()).toMatchObject({ name: 'ci-reader', scopes: ['list'] });
    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Revoke API key ci-reader' }).click();
    await seeText(page.getByRole('status'), 'API key ci-reader revoked');
    await seeText(page.locator('tr[data-key="ci-reader"] td').nth(1), /^revoked$/);
    expect((await httpsRequest(`${svc.url}/v1/whoami`, { ca: rootPem, headers: { authorization: `Bearer ${created}` } })).status).toBe(401);
    // A key cannot hand out more than it holds.
    const escalate = await httpsRequest(`${svc.url}/v1/apikeys`, { method: 'POST', ca: rootPem, headers: { authorization: `Bearer ${keys.ops}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'root-of-all', scopes: ['issue:spiffe:spiffe://other.internal/**'] }) });
    expect(escalate.status).toBe(403);
    await shot(page, 'api-keys');
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByLabel('Actor').fill('apikey:ops');
    await page.getByRole('button', { name: 'Filter' }).click();
    const actions = await page.locator('table tbody tr td:nth-child(4)').allTextContents();
    expect(actions).toEqual(expect.arrayContaining(['apikey-create', 'apikey-revoke']));
    await page.getByRole('button', { name: 'Verify the chain' }).click();
    await seeText(page.getByRole('status').last(), 'The audit chain verifies');
    await shot(page, 'audit');
    noScriptErrors(page);
    await page.context().close();
  });

  it('ok/an enrollment token is made for a SPIFFE ID the key covers, and enrolls a service once', async () => {
    const page = await signedIn(keys.ops);
    await page.getByRole('link', { name: 'Enrollment tokens' }).click();
    await page.getByLabel('Certificate name').fill('billing');
    await page.getByLabel('SPIFFE ID').fill(`spiffe://${TD}/ns/shop/billing`);
    await page.getByRole('button', { name: 'Create token' }).click();
    const token = (await page.locator('#new-token').textContent())!;
    const out = join(root, 'billing');
    const issued = ca(['issue', 'billing', '--ca-url', svc.url, '--ca-bundle', join(dir, 'root.pem'), '--token', token, '--cert-out', `${out}.pem`, '--key-out', `${out}.key`]);
    expect(issued.code, issued.stderr).toBe(0);
    expect(caJson<Array<{ spiffeId: string }>>(['list', '--dir', dir, '--json']).some((c) => c.spiffeId === `spiffe://${TD}/ns/shop/billing`)).toBe(true);
    // Outside its scopes: refused, and the page says why.
    await page.getByLabel('SPIFFE ID').fill('spiffe://acme.internal/meshca/ca');
    await page.getByRole('button', { name: 'Create token' }).click();
    await seeText(page.getByRole('alert'), 'reserved');
    noScriptErrors(page);
    await page.context().close();
  });

  it('ok/readable on a phone (390×844): the overview and a certificate, keyboard only to sign in', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${svc.url.replace('127.0.0.1', 'localhost')}/ui/`);
    await page.keyboard.type(keys.ops);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Overview' }).first().waitFor({ state: 'visible' });
    // Nothing wider than the screen but the tables, which scroll in their own box.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await shot(page, 'overview-phone');
    await context.close();
  });

  it('ok/an operator signs in with a client certificate and gets what config.json grants it; fail/the certificate without the dashboard\'s header (another site\'s request) counts for nothing', async () => {
    const origin = svc.url.replace('127.0.0.1', 'localhost');
    // playwright-core presents client certificates through a TLS connection of its own, which the SPKI pin above does
    // not reach: this tab skips the server check (the CA's own client checks it below, with the root).
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, clientCertificates: [{ origin, certPath: join(root, 'alice.pem'), keyPath: join(root, 'alice.key') }], ignoreHTTPSErrors: true });
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${origin}/ui/`);
    await page.getByRole('button', { name: 'Sign in with my client certificate' }).click();
    await page.getByRole('heading', { name: 'Overview' }).first().waitFor({ state: 'visible' });
    expect(await page.getByRole('navigation').getByRole('link').allTextContents()).toEqual(['Overview', 'Certificates', 'Audit log']);
    await seeText(page.locator('#who'), `spiffe://${TD}/operators/alice (list audit)`);
    await shot(page, 'operator-certificate');
    const cert = readFileSync(join(root, 'alice.pem'), 'utf8');
    const key = readFileSync(join(root, 'alice.key'), 'utf8');
    const withHeader = await httpsRequest(`${svc.url}/v1/overview`, { ca: rootPem, cert, key, headers: { 'x-meshca-operator': '1' } });
    expect(withHeader.status).toBe(200);
    const without = await httpsRequest(`${svc.url}/v1/overview`, { ca: rootPem, cert, key });
    expect([without.status, without.json().error.code]).toEqual([401, 'ERR_UNAUTHENTICATED']);
    // Renewal takes it as the certificate it is, header or not.
    expect((await httpsRequest(`${svc.url}/v1/renew`, { method: 'POST', ca: rootPem, cert, key, headers: { 'x-meshca-operator': '1' } })).status).toBe(201);
    // Scopes config.json does not give it: refused.

    expect((await httpsRequest(`${svc.url}/v1/apikeys`, { ca: rootPem, cert, key, headers: { 'x-meshca-operator': '1' } })).status).toBe(403);
    expect(caJson<Array<{ actor: string; action: string }>>(['audit', '--dir', dir, '--json']).some((e) => e.actor.startsWith(`operator:spiffe://${TD}/operators/alice#`) && e.action === 'overview')).toBe(true);
  });

  it('ok/an answer that arrives after the user moved on is not drawn over the new page', async () => {
    const page = await signedIn(keys.ops);
    await page.getByRole('heading', { name: 'Overview' }).first().waitFor({ state: 'visible' });
    // A certificate that does not exist, answered late.
    await page.route('**/v1/certificates/ffffffffffffffffffffffffffffffff', async (r) => {
      await new Promise((done) => setTimeout(done, 1_500));
      await r.continue();
    });
    await page.evaluate(() => (location.hash = '#/certificates/ffffffffffffffffffffffffffffffff'));
    await new Promise((done) => setTimeout(done, 100));
    await page.getByRole('link', { name: 'Enrollment tokens' }).click();
    await page.getByRole('heading', { name: 'Enrollment tokens' }).waitFor({ state: 'visible' });
    await new Promise((done) => setTimeout(done, 2_500));
    expect(await page.getByRole('heading', { name: 'Enrollment tokens' }).count()).toBe(1);
    expect(await page.getByRole('alert').count()).toBe(0);
    noScriptErrors(page);
  });

  it('ok/the page is served with a strict Content-Security-Policy and no inline script', async () => {
    const r = await httpsRequest(`${svc.url}/ui/`, { ca: rootPem });
    expect(r.headers['content-security-policy']).toContain("script-src 'self'");
    expect(r.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(r.body).not.toMatch(/<script>(?!\s*<\/script>)|<script[^>]*>[^<]+<\/script>|style="|onclick=/);
    expect((await httpsRequest(`${svc.url}/ui/nothing.js`, { ca: rootPem })).status).toBe(404);
  });
});
