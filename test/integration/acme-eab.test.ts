// `ca acme eab`: keys made, listed without their secret, refused twice by name, revoked; every step audited.

import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { expectOneLineError } from '../helpers/cli-error.js';
import { ca, caJson } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';

describe('ca acme eab', () => {
  it('ok/create, list, revoke; fail/a name in use, a scope that is not issue:, too long a life', () => {
    const dir = join(tempDir(), 'ca');
    expect(ca(['init', '--dir', dir, '--name', 'ACME CA', '--trust-domain', 'acme.internal']).code).toBe(0);
    const made = caJson<{ kid: string; hmacKey: string; scopes: string[]; expiresAt: string }>(['acme', 'eab', 'create', '--dir', dir, '--name', 'ingress', '--scope', 'issue:*.acme.internal', '--json']);
    expect(made.kid).toMatch(/^eab_/);
    expect(Buffer.from(made.hmacKey, 'base64url')).toHaveLength(32);
    expect(made.scopes).toEqual(['issue:dns:*.acme.internal']);
    const listed = ca(['acme', 'eab', 'list', '--dir', dir, '--json']).stdout;
    expect(JSON.parse(listed)).toMatchObject([{ kid: made.kid, name: 'ingress', status: 'active' }]);
    expect(listed).not.toContain(made.hmacKey);
    expectOneLineError(ca(['acme', 'eab', 'create', '--dir', dir, '--name', 'ingress', '--scope', 'issue:dns:x.acme.internal']), 'ERR_EAB_NAME_TAKEN', 'already named "ingress"');
    expectOneLineError(ca(['acme', 'eab', 'create', '--dir', dir, '--name', 'ops', '--scope', 'revoke']), 'ERR_SCOPE_INVALID', 'only be given issue: scopes');
    expectOneLineError(ca(['acme', 'eab', 'create', '--dir', dir, '--name', 'ops', '--scope', 'issue:dns:x.acme.internal', '--expires', '91d']), 'ERR_TTL_TOO_LONG', 'at most');
    expect(ca(['acme', 'eab', 'revoke', 'ingress', '--dir', dir]).code).toBe(0);
    expect(JSON.parse(ca(['acme', 'eab', 'list', '--dir', dir, '--json']).stdout)).toMatchObject([{ status: 'revoked' }]);
    const actions = caJson<{ events: Array<{ action: string }> } | Array<{ action: string }>>(['audit', '--dir', dir, '--json']);
    const rows = Array.isArray(actions) ? actions : actions.events;
    expect(rows.map((r) => r.action)).toEqual(expect.arrayContaining(['acme-eab-create', 'acme-eab-revoke']));
  });
});
