// meshca dashboard: a page per question an operator asks, on the same /v1 API and authorization as every other client.
// No framework and nothing fetched from elsewhere; every value from the API is put in the page as text, never as HTML.

const KEY = 'meshca.apiKey';
const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');

/**
 * The signed-in key (sessionStorage: gone with the tab), or CERT for an operator's client certificate, and what it
 * may do.
 */
const CERT = 'client-certificate';
const session = { key: sessionStorage.getItem(KEY), me: null };

/** An element: h('a', { href: '#/x' }, 'text', child). Attributes are set as properties or attributes, children as text. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}
const svg = (tag, attrs = {}, ...children) => {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
};

/** Bumped on every navigation: an answer that arrives for a page no longer shown is dropped, not drawn over the new one. */
let routeSeq = 0;
class Stale extends Error {}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** A call to the API with the session's key in the Authorization header (never in a URL, never in a cookie). */
async function api(path, { method = 'GET', body, key = session.key } = {}) {
  const seq = routeSeq;
  // A client certificate goes with same-origin requests only, and counts only with the header no other site can send.
  const auth = key === CERT ? { 'x-meshca-operator': '1' } : { authorization: `Bearer ${key}` };
  const res = await fetch(path, { method, headers: { ...auth, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined, cache: 'no-store', credentials: key === CERT ? 'same-origin' : 'omit' });
  const text = await res.text();
  let data;
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = {};
  }
  // An answer for a page no longer shown, failed or not, is dropped (a late 401 signs out on the next request).
  if (seq !== routeSeq && method === 'GET') throw new Stale();
  if (!res.ok) throw new ApiError(res.status, data.error?.code ?? `HTTP_${res.status}`, data.error?.message ?? `the CA answered HTTP ${res.status}`);
  return data;
}

const can = (scope) => session.me?.scopes.includes(scope) ?? false;
const canIssue = () => session.me?.scopes.some((s) => s.startsWith('issue:')) ?? false;
const when = (iso) => (iso ? new Date(iso).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : '-');
const relative = (iso) => {
  const s = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
  const a = Math.abs(s);
  const t = a < 3600 ? `${Math.round(a / 60)} min` : a < 172800 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} days`;
  return s >= 0 ? `in ${t}` : `${t} ago`;
};
const errorBox = (e) => {
  // A refused credential anywhere signs out (after this event), rather than leave a page that can no longer work.
  if (e instanceof ApiError && e.status === 401 && session.key) setTimeout(() => show(e), 0);
  return h('div', { class: 'msg error', role: 'alert' }, e instanceof ApiError ? `${e.message} [${e.code}]` : String(e.message ?? e));
};
const okBox = (text) => h('div', { class: 'msg ok', role: 'status' }, text);

function copyButton(text, label = 'Copy') {
  const b = h('button', { type: 'button', class: 'secondary', onclick: async () => {
    try {
      await navigator.clipboard.writeText(text);
      b.textContent = 'Copied';
    } catch {
      b.textContent = 'Select and copy it';
    }
  } }, label);
  return b;
}

function page(title, ...children) {
  document.title = `${title} · meshca`;
  main.replaceChildren(h('h1', {}, title), ...children);
  main.focus();
}

// ---------------------------------------------------------------------------------------------------------------
// Sign-in

function signIn(message) {
  nav.hidden = true;
  who.replaceChildren();
  const input = h('input', { id: 'apikey', name: 'apikey', type: 'password', autocomplete: 'off', required: true, spellcheck: false, placeholder: 'mca_…' });
  const status = h('div', { 'aria-live': 'polite' }, message ? errorBox({ message }) : null);
  const signInAs = async (key) => {
    try {
      session.me = await api('/v1/whoami', { key });
      session.key = key;
      sessionStorage.setItem(KEY, key);
      // The first page this key may use (route() picks it for an empty hash).
      if (location.hash === '' || location.hash === '#') route();
      else location.hash = '';
    } catch (e) {
      status.replaceChildren(errorBox(e instanceof ApiError && e.status === 401 ? new Error(key === CERT ? `No operator certificate was accepted: ${e.message}` : `That API key was not accepted: ${e.message}`) : e));
      input.focus();
    }
  };
  const form = h('form', { class: 'stack', onsubmit: (ev) => {
    ev.preventDefault();
    signInAs(input.value.trim());
  } },
  h('label', { for: 'apikey' }, 'API key', input),
  h('p', { class: 'hint' }, 'Made with ca apikey create. It is kept in this tab only (sessionStorage) and sent in the Authorization header.'),
  h('div', {}, h('button', { type: 'submit' }, 'Sign in')),
  h('p', { class: 'hint' }, 'Or, with an operator certificate from this CA installed in the browser (config.json operators):'),
  h('div', {}, h('button', { type: 'button', class: 'secondary', onclick: () => signInAs(CERT) }, 'Sign in with my client certificate')));
  document.title = 'Sign in · meshca';
  main.replaceChildren(h('section', { class: 'signin panel' }, h('h1', {}, 'Sign in to meshca'), status, form));
  input.focus();
}

function signOut() {
  sessionStorage.removeItem(KEY);
  session.key = null;
  session.me = null;
  location.hash = '';
  signIn();
}

function renderNav(current) {
  const items = [
    ['overview', 'Overview', can('list')],
    ['certificates', 'Certificates', can('list')],
    ['keys', 'API keys', can('apikeys')],
    ['tokens', 'Enrollment tokens', canIssue()],
    ['audit', 'Audit log', can('audit')],
  ].filter(([, , shown]) => shown);
  nav.replaceChildren(...items.map(([id, label]) => h('a', { href: `#/${id}`, 'aria-current': id === current ? 'page' : undefined }, label)));
  nav.hidden = false;
  who.replaceChildren(h('span', {}, session.me.name, h('span', { class: 'scopes' }, ` (${session.me.scopes.join(' ')})`)), h('button', { type: 'button', class: 'secondary', onclick: signOut }, 'Sign out'));
}

// ---------------------------------------------------------------------------------------------------------------
// Overview

function timelineChart(timeline) {
  const W = 640, H = 170, pad = 28;
  const max = Math.max(1, ...timeline.map((t) => t.count));
  const bw = (W - pad) / timeline.length;
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': `Valid certificates by the day they expire, next ${timeline.length} days` });
  timeline.forEach((t, i) => {
    const bh = Math.round(((H - 40) * t.count) / max);
    const rect = svg('rect', { x: pad + i * bw + 2, y: H - 22 - bh, width: Math.max(1, bw - 4), height: bh, class: i === 0 ? 'bar warn' : 'bar' });
    rect.append(svg('title', {}, `${t.count} expiring ${i === 0 ? 'within 24 h' : `in day ${i + 1}`}`));
    chart.append(rect);
    chart.append(svg('text', { x: pad + i * bw + bw / 2, y: H - 8, 'text-anchor': 'middle', class: 'axis' }, i === 0 ? '24h' : `+${i + 1}d`));
    if (t.count > 0) chart.append(svg('text', { x: pad + i * bw + bw / 2, y: H - 26 - bh, 'text-anchor': 'middle', class: 'axis' }, t.count));
  });
  return chart;
}

function activityChart(activity) {
  const W = 640, H = 120;
  const max = Math.max(1, ...activity.issued, ...activity.refused);
  const line = (series, cls) => svg('polyline', { class: cls, points: series.map((v, i) => `${(i * W) / (series.length - 1)},${H - 10 - ((H - 20) * v) / max}`).join(' ') });
  return svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': 'Issuances and refusals per minute, last hour' }, line(activity.issued, 'line-issued'), line(activity.refused, 'line-refused'));
}

async function overview() {
  page('Overview', h('p', {}, 'Loading…'));
  const o = await api('/v1/overview');
  const c = o.certificates;
  const card = (n, label, cls) => h('div', { class: 'card' }, h('div', { class: `n ${cls ?? ''}` }, n.toLocaleString('en')), h('div', { class: 'l' }, label));
  const sum = (xs) => xs.reduce((a, b) => a + b, 0);
  page('Overview',
    h('div', { class: 'cards' }, card(c.valid, 'valid'), card(c.expiring24h, 'expiring within 24 h', c.expiring24h > 0 ? 'soon' : ''), card(c.expiring7d, 'expiring within 7 days'), card(c.expired, 'expired'), card(c.revoked, 'revoked')),
    h('h2', {}, 'When valid certificates expire'),
    h('div', { class: 'panel' }, timelineChart(o.expiryTimeline)),
    h('h2', {}, 'The last hour'),
    h('div', { class: 'panel' },
      h('p', { class: 'legend' }, h('span', { class: 'k1' }, `${sum(o.activity.issued)} issued`), ' and ', h('span', { class: 'k2' }, `${sum(o.activity.refused)} refused`), ` requests, ${sum(o.activity.revoked)} revocations (per minute, this replica)`),
      activityChart(o.activity)),
    h('h2', {}, 'CA certificates'),
    h('div', { class: 'scroll' }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', {}, 'Certificate'), h('th', {}, 'Serial'), h('th', {}, 'Expires'))),
      h('tbody', {},
        h('tr', {}, h('td', {}, 'Root'), h('td', { class: 'mono' }, o.ca.root.serial), h('td', {}, `${when(o.ca.root.notAfter)} (${relative(o.ca.root.notAfter)})`)),
        o.ca.intermediates.map((i) => h('tr', {}, h('td', {}, i.signing ? 'Intermediate (signing)' : 'Intermediate (retired)'), h('td', { class: 'mono' }, i.serial), h('td', {}, `${when(i.notAfter)} (${relative(i.notAfter)})`))),
        o.ocspSigners.map((s) => h('tr', {}, h('td', {}, 'OCSP signer'), h('td', { class: 'mono' }, s.serial), h('td', {}, `${when(s.notAfter)} (${relative(s.notAfter)})`)))))),
    h('h2', {}, 'CRLs published'),
    h('div', { class: 'scroll' }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', {}, 'Level'), h('th', {}, 'Number'), h('th', {}, 'This update'), h('th', {}, 'Next update'))),
      h('tbody', {}, o.crls.map((l) => h('tr', {}, h('td', {}, l.level), h('td', { class: 'mono' }, l.number), h('td', {}, when(l.thisUpdate)), h('td', {}, `${when(l.nextUpdate)} (${relative(l.nextUpdate)})`)))))),
    h('p', { class: 'hint' }, `As of ${when(o.at)}. `, h('button', { type: 'button', class: 'secondary', onclick: () => overview().catch(show) }, 'Refresh')));
}

// ---------------------------------------------------------------------------------------------------------------
// Certificates

const certState = { text: '', status: '', order: 'asc', cursors: [] };

/** What the search box holds, as the API reads it: a serial, a SPIFFE ID or pattern, a DNS name or pattern, an address. */
function searchQuery(text) {
  const t = text.trim();
  if (t === '') return {};
  if (/^(?:[0-9a-f]{2}:?)+$/i.test(t) && t.replace(/:/g, '').length >= 16) return { serial: t.replace(/:/g, '').toLowerCase() };
  return { identity: t };
}

async function certificates() {
  const input = h('input', { id: 'q', type: 'search', value: certState.text, placeholder: 'spiffe://… , api.acme.internal, *.acme.internal, 10.0.0.5 or a serial' });
  const status = h('select', { id: 'status' }, ['', 'valid', 'revoked', 'expired'].map((s) => h('option', { value: s, selected: s === certState.status }, s || 'any')));
  const order = h('select', { id: 'order' }, h('option', { value: 'asc', selected: certState.order === 'asc' }, 'soonest expiry first'), h('option', { value: 'desc', selected: certState.order === 'desc' }, 'latest expiry first'));
  const results = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'row', role: 'search', onsubmit: (ev) => {
    ev.preventDefault();
    Object.assign(certState, { text: input.value, status: status.value, order: order.value, cursors: [] });
    load(undefined);
  } },
  h('label', { for: 'q' }, 'Search by SPIFFE ID, DNS name, address or serial', input),
  h('label', { for: 'status' }, 'Status', status),
  h('label', { for: 'order' }, 'Sort by expiry', order),
  h('button', { type: 'submit' }, 'Search'));
  page('Certificates', form, results);

  async function load(after) {
    results.replaceChildren(h('p', {}, 'Loading…'));
    try {
      const q = searchQuery(certState.text);
      if (q.serial) {
        location.hash = `#/certificates/${q.serial}`;
        return;
      }
      const params = new URLSearchParams({ limit: '50', order: certState.order });
      if (certState.status) params.set('status', certState.status);
      if (q.identity) params.set('identity', q.identity);
      if (after) params.set('after', after);
      const r = await api(`/v1/certificates?${params}`);
      const rows = r.certificates.map((c) => h('tr', {},
        h('td', { class: 'mono' }, h('a', { href: `#/certificates/${c.serial}` }, c.serial)),
        h('td', {}, c.name),
        h('td', {}, [c.spiffeId, ...c.dnsNames, ...c.ipAddresses].filter(Boolean).join(', ')),
        h('td', { class: `status-${c.status}` }, c.status),
        h('td', {}, when(c.notAfter))));
      const prev = h('button', { type: 'button', class: 'secondary', disabled: certState.cursors.length === 0, onclick: () => load(certState.cursors.pop() || undefined) }, 'Previous page');
      const next = h('button', { type: 'button', class: 'secondary', disabled: !r.next, onclick: () => {
        certState.cursors.push(after ?? '');
        load(r.next);
      } }, 'Next page');
      results.replaceChildren(
        r.certificates.length === 0 ? h('p', {}, 'No certificate matches.') : h('div', { class: 'scroll' }, h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Serial'), h('th', {}, 'Name'), h('th', {}, 'Identities'), h('th', {}, 'Status'), h('th', {}, 'Not after'))), h('tbody', {}, rows))),
        h('div', { class: 'pager' }, prev, next, h('span', { class: 'hint' }, `${r.certificates.length} shown`)));
    } catch (e) {
      results.replaceChildren(errorBox(e));
    }
  }
  await load(undefined);
}

const REASONS = ['unspecified', 'keyCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'privilegeWithdrawn'];

async function certificate(serial, flash) {
  if (!flash) page(`Certificate ${serial}`, h('p', {}, 'Loading…'));
  const c = await api(`/v1/certificates/${encodeURIComponent(serial)}`);
  const link = (s) => h('a', { href: `#/certificates/${s}`, class: 'mono' }, s);
  const download = h('button', { type: 'button', class: 'secondary', onclick: () => {
    const url = URL.createObjectURL(new Blob([c.certificate, c.chain], { type: 'application/x-pem-file' }));
    const a = h('a', { href: url, download: `${c.serial}.pem` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  } }, 'Download PEM (with chain)');
  const state = h('div', { 'aria-live': 'polite' }, flash);
  const revokedLine = () => c.revokedAt ? h('span', { class: 'status-revoked' }, `revoked ${when(c.revokedAt)} (${c.reason})`, c.crl ? `; listed in CRL number ${c.crl.number}, signed ${when(c.crl.thisUpdate)}` : '; not yet in a published CRL') : h('span', { class: `status-${c.status}` }, c.status);
  const statusCell = h('dd', { id: 'cert-status' }, revokedLine());
  const fields = h('dl', { class: 'fields' },
    h('dt', {}, 'Serial'), h('dd', { class: 'mono' }, c.serial),
    h('dt', {}, 'Name'), h('dd', {}, c.name),
    h('dt', {}, 'Status'), statusCell,
    h('dt', {}, 'SPIFFE ID'), h('dd', { class: 'mono' }, c.spiffeId ?? '-'),
    h('dt', {}, 'DNS names'), h('dd', {}, c.dnsNames.join(', ') || '-'),
    h('dt', {}, 'IP addresses'), h('dd', {}, c.ipAddresses.join(', ') || '-'),
    h('dt', {}, 'Not before'), h('dd', {}, when(c.notBefore)),
    h('dt', {}, 'Not after'), h('dd', {}, `${when(c.notAfter)} (${relative(c.notAfter)})`),
    h('dt', {}, 'Requested by'), h('dd', { class: 'mono' }, c.requestedBy ?? '-'),
    h('dt', {}, 'Renewed from'), h('dd', {}, c.renewedFrom ? link(c.renewedFrom) : '-'),
    h('dt', {}, 'Renewed to'), h('dd', {}, c.renewedTo.length ? c.renewedTo.flatMap((s, i) => (i ? [', ', link(s)] : [link(s)])) : '-'));
  const actions = h('div', { class: 'pager' }, download);
  if (can('revoke') && c.status !== 'revoked') actions.append(revokeButton(c, state, async (done) => {
    // The revocation is recorded; the CRL that lists it is signed within a second or so: wait for it, then show the
    // certificate again (its status, that CRL, and the audit events with the revocation).
    for (let i = 0; i < 20; i++) {
      Object.assign(c, await api(`/v1/certificates/${c.serial}`));
      statusCell.replaceChildren(revokedLine());
      if (c.crl) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    await certificate(c.serial, done);
  }));
  const sections = [h('div', { class: 'panel' }, fields, actions, state), h('h2', {}, 'Certificate and chain (PEM)'), h('pre', {}, c.certificate + c.chain)];
  if (can('audit')) {
    // Newest first; each request reads a bounded slice of the log, so follow `next` a few times for older events.
    let found = [];
    let next;
    for (let i = 0; i < 10; i++) {
      const r = await api(`/v1/audit?target=${encodeURIComponent(c.serial)}&order=desc&limit=100${next ? `&before=${next}` : ''}`).catch((e) => (e instanceof Stale ? Promise.reject(e) : { events: [], next: null }));
      found = found.concat(r.events);
      next = r.next;
      if (next === null || found.some((e) => e.action === 'issue' || e.action === 'renew')) break;
    }
    sections.push(h('h2', {}, 'Audit events'), auditTable(found), next ? h('p', { class: 'hint' }, `Older events may exist: search the audit log for target ${c.serial}.`) : null);
  }
  page(`Certificate ${c.serial}`, ...sections);
}

function revokeButton(c, state, after) {
  const reason = h('select', { id: 'reason' }, REASONS.map((r) => h('option', { value: r }, r)));
  const confirm = h('button', { type: 'submit', class: 'danger' }, 'Revoke');
  const dialog = h('dialog', { 'aria-labelledby': 'revoke-title' },
    h('form', { class: 'stack', method: 'dialog', onsubmit: async (ev) => {
      ev.preventDefault();
      confirm.disabled = true;
      try {
        const r = await api(`/v1/certificates/${c.serial}/revoke`, { method: 'POST', body: { reason: reason.value } });
        dialog.close();
        const done = okBox(`Revoked at ${when(r.revokedAt)} (${r.reason})${r.alsoRevoked.length ? `; also revoked ${r.alsoRevoked.length} certificate(s) with the same key` : ''}.`);
        state.replaceChildren(done);
        await after(done);
      } catch (e) {
        dialog.close();
        state.replaceChildren(errorBox(e));
      }
    } },
    h('h2', { id: 'revoke-title' }, `Revoke ${c.serial}?`),
    h('p', {}, `${c.spiffeId ?? c.dnsNames[0] ?? c.name} will be refused by every relying party that checks OCSP or the CRL. This cannot be undone.`),
    h('p', { class: 'hint' }, 'keyCompromise also revokes every other unexpired certificate with the same key, and every certificate renewed from them, and blocks the key for good.'),
    h('label', { for: 'reason' }, 'Reason', reason),
    h('div', { class: 'pager' }, confirm, h('button', { type: 'button', class: 'secondary', onclick: () => dialog.close() }, 'Cancel'))));
  // The dialog lives in the page, so it goes with it.
  return h('span', {}, h('button', { type: 'button', id: 'revoke', class: 'danger', onclick: () => dialog.showModal() }, 'Revoke…'), dialog);
}

// ---------------------------------------------------------------------------------------------------------------
// API keys

async function keys() {
  const list = h('div', { 'aria-live': 'polite' });
  const created = h('div', { 'aria-live': 'polite' });
  const name = h('input', { id: 'key-name', required: true, pattern: '[A-Za-z0-9._\\-]{1,64}', autocomplete: 'off' });
  const expires = h('input', { id: 'key-expires', placeholder: 'as long as allowed' });
  const issue = h('input', { id: 'key-issue', placeholder: 'issue:spiffe:spiffe://acme.internal/ns/web/*' });
  const plain = ['list', 'revoke', 'audit', 'apikeys'].filter(can).map((s) => h('label', { class: 'check' }, h('input', { type: 'checkbox', value: s, name: 'scope' }), s));
  const form = h('form', { class: 'stack', onsubmit: async (ev) => {
    ev.preventDefault();
    const scopes = [...form.querySelectorAll('input[name=scope]:checked')].map((i) => i.value).concat(issue.value.split(/[\s,]+/).filter(Boolean));
    try {
      const k = await api('/v1/apikeys', { method: 'POST', body: { name: name.value, scopes, ...(expires.value.trim() ? { expires: expires.value.trim() } : {}) } });
      created.replaceChildren(h('div', { class: 'msg ok', role: 'status' }, h('p', {}, `API key ${k.name} created. It is shown once: copy it now.`), h('div', { class: 'secret' }, h('code', { id: 'new-key' }, k.key), copyButton(k.key))));
      form.reset();
      await reload();
    } catch (e) {
      created.replaceChildren(errorBox(e));
    }
  } },
  h('label', { for: 'key-name' }, 'Name', name),
  h('fieldset', {}, h('legend', {}, 'Scopes (only those this key holds)'), plain),
  h('label', { for: 'key-issue' }, 'issue: scopes (space-separated, each one this key holds)', issue),
  h('label', { for: 'key-expires' }, 'Expires after (at most 90d, and not after the key you signed in with)', expires),
  h('div', {}, h('button', { type: 'submit' }, 'Create API key')));
  async function reload() {
    const r = await api('/v1/apikeys');
    list.replaceChildren(h('div', { class: 'scroll' }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Status'), h('th', {}, 'Scopes'), h('th', {}, 'Expires'), h('th', {}, 'Last used'), h('th', {}, ''))),
      h('tbody', {}, r.apiKeys.map((k) => h('tr', { 'data-key': k.name },
        h('td', {}, k.name), h('td', {}, k.status), h('td', { class: 'mono' }, k.scopes.join(' ')), h('td', {}, when(k.expiresAt)), h('td', {}, when(k.lastUsedAt)),
        h('td', {}, k.status === 'active' ? h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke API key ${k.name}`, onclick: async () => {
          if (!window.confirm(`Revoke API key ${k.name}? Everything using it is refused from now on.`)) return;
          try {
            await api(`/v1/apikeys/${encodeURIComponent(k.name)}/revoke`, { method: 'POST', body: {} });
            created.replaceChildren(okBox(`API key ${k.name} revoked.`));
            await reload();
          } catch (e) {
            created.replaceChildren(errorBox(e));
          }
        } }, 'Revoke') : '')))))));
  }
  page('API keys', list, h('h2', {}, 'Create an API key'), created, h('div', { class: 'panel' }, form));
  await reload();
}

// ---------------------------------------------------------------------------------------------------------------
// Enrollment tokens

function tokens() {
  const out = h('div', { 'aria-live': 'polite' });
  const field = (id, label, attrs = {}) => h('label', { for: id }, label, h('input', { id, autocomplete: 'off', ...attrs }));
  const form = h('form', { class: 'stack', onsubmit: async (ev) => {
    ev.preventDefault();
    const v = (id) => form.querySelector(`#${id}`).value.trim();
    const list = (id) => v(id).split(/[\s,]+/).filter(Boolean);
    try {
      const t = await api('/v1/tokens', { method: 'POST', body: { name: v('t-name'), ...(v('t-spiffe') ? { spiffeId: v('t-spiffe') } : {}), dnsNames: list('t-dns'), ipAddresses: list('t-ip'), ttl: v('t-ttl') || '5m' } });
      out.replaceChildren(h('div', { class: 'msg ok', role: 'status' }, h('p', {}, `Token for ${v('t-name')}, single use, valid until ${when(t.expiresAt)}:`), h('div', { class: 'secret' }, h('code', { id: 'new-token' }, t.token), copyButton(t.token)), h('p', { class: 'hint' }, 'On the service, with the token in MESHCA_TOKEN (not on the command line): ca issue NAME --ca-url … --ca-bundle root.pem …')));
    } catch (e) {
      out.replaceChildren(errorBox(e));
    }
  } },
  field('t-name', 'Certificate name', { required: true }),
  field('t-spiffe', 'SPIFFE ID', { placeholder: `spiffe://${session.me.trustDomain}/…` }),
  field('t-dns', 'DNS names (space or comma separated)'),
  field('t-ip', 'IP addresses'),
  field('t-ttl', 'Token lifetime (at most 1h)', { value: '5m' }),
  h('div', {}, h('button', { type: 'submit' }, 'Create token')));
  page('Enrollment tokens', h('p', { class: 'hint' }, `For identities this key's scopes cover: ${session.me.scopes.filter((s) => s.startsWith('issue:')).join(' ')}`), out, h('div', { class: 'panel' }, form));
}

// ---------------------------------------------------------------------------------------------------------------
// Audit log

function auditTable(events) {
  if (events.length === 0) return h('p', {}, 'No audit event matches.');
  return h('div', { class: 'scroll' }, h('table', {},
    h('thead', {}, h('tr', {}, h('th', {}, '#'), h('th', {}, 'When'), h('th', {}, 'Actor'), h('th', {}, 'Action'), h('th', {}, 'Target'), h('th', {}, 'Outcome'), h('th', {}, 'Detail'))),
    h('tbody', {}, events.map((e) => h('tr', {}, h('td', {}, e.id), h('td', {}, when(e.at)), h('td', { class: 'mono' }, e.actor), h('td', {}, e.action), h('td', { class: 'mono' }, e.target ?? ''), h('td', {}, e.outcome), h('td', { class: 'mono' }, e.detail ? JSON.stringify(e.detail) : ''))))));
}

const auditState = { actor: '', action: '', outcome: '', since: '', until: '', cursors: [] };

async function audit() {
  const field = (id, label, attrs = {}) => h('label', { for: `a-${id}` }, label, h('input', { id: `a-${id}`, value: auditState[id], autocomplete: 'off', ...attrs }));
  const outcome = h('select', { id: 'a-outcome' }, ['', 'ok', 'refused', 'noop'].map((o) => h('option', { value: o, selected: o === auditState.outcome }, o || 'any')));
  const results = h('div', { 'aria-live': 'polite' });
  const verdict = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'row', onsubmit: (ev) => {
    ev.preventDefault();
    for (const k of ['actor', 'action', 'since', 'until']) auditState[k] = form.querySelector(`#a-${k}`).value.trim();
    auditState.outcome = outcome.value;
    auditState.cursors = [];
    load(undefined);
  } },
  field('actor', 'Actor', { placeholder: 'apikey:ops' }), field('action', 'Action', { placeholder: 'revoke' }),
  h('label', { for: 'a-outcome' }, 'Outcome', outcome),
  field('since', 'Since (UTC)', { placeholder: '2026-12-06T00:00:00Z' }), field('until', 'Until (UTC)'),
  h('button', { type: 'submit' }, 'Filter'));
  const verify = h('button', { type: 'button', class: 'secondary', onclick: async () => {
    verdict.replaceChildren(h('p', {}, 'Verifying the whole chain…'));
    try {
      const v = await api('/v1/audit/verify');
      verdict.replaceChildren(v.ok ? okBox(`The audit chain verifies: ${v.rows} rows, each sealed and linked to the one before.`) : errorBox(new Error(`The audit chain does NOT verify at row ${v.rowId}: ${v.message}`)));
    } catch (e) {
      verdict.replaceChildren(errorBox(e));
    }
  } }, 'Verify the chain');
  page('Audit log', form, h('div', { class: 'pager' }, verify), verdict, results);
  async function load(after) {
    results.replaceChildren(h('p', {}, 'Loading…'));
    try {
      const params = new URLSearchParams({ limit: '100', order: 'desc', ...(after ? { before: String(after) } : {}) });
      for (const k of ['actor', 'action', 'outcome', 'since', 'until']) if (auditState[k]) params.set(k, auditState[k]);
      const r = await api(`/v1/audit?${params}`);
      const prev = h('button', { type: 'button', class: 'secondary', disabled: auditState.cursors.length === 0, onclick: () => load(auditState.cursors.pop() || undefined) }, 'Previous page');
      const next = h('button', { type: 'button', class: 'secondary', disabled: r.next === null, onclick: () => {
        auditState.cursors.push(after ?? '');
        load(r.next);
      } }, 'Next page');
      results.replaceChildren(auditTable(r.events), h('div', { class: 'pager' }, prev, next));
    } catch (e) {
      results.replaceChildren(errorBox(e));
    }
  }
  await load(undefined);
}

// ---------------------------------------------------------------------------------------------------------------
// Routing

function show(e) {
  if (e instanceof Stale) return;
  if (e instanceof ApiError && e.status === 401) {
    // The key (or certificate) stopped working: forget it.
    sessionStorage.removeItem(KEY);
    session.key = null;
    session.me = null;
    return signIn(`Signed out: ${e.message}`);
  }
  main.replaceChildren(errorBox(e));
}

async function route() {
  routeSeq++;
  if (!session.key) return signIn();
  try {
    session.me ??= await api('/v1/whoami');
  } catch (e) {
    if (e instanceof Stale) return;
    sessionStorage.removeItem(KEY);
    session.key = null;
    return signIn(e instanceof ApiError ? `That API key is no longer accepted: ${e.message}` : String(e.message));
  }
  const [, section = '', arg] = location.hash.split('/');
  const first = can('list') ? 'overview' : can('apikeys') ? 'keys' : canIssue() ? 'tokens' : can('audit') ? 'audit' : 'none';
  const current = section || first;
  renderNav(current);
  try {
    if (current === 'overview' && can('list')) await overview();
    else if (current === 'certificates' && can('list')) await (arg ? certificate(decodeURIComponent(arg)) : certificates());
    else if (current === 'keys' && can('apikeys')) await keys();
    else if (current === 'tokens' && canIssue()) tokens();
    else if (current === 'audit' && can('audit')) await audit();
    else page('Nothing to show', h('p', {}, `This API key's scopes (${session.me.scopes.join(' ')}) do not cover this page.`));
  } catch (e) {
    show(e);
  }
}

window.addEventListener('hashchange', route);
route();
