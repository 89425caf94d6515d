// The OpenAPI 3.1 description of the /v1 API, served at /v1/openapi.json.

const error = { $ref: '#/components/responses/Error' };
const leaf = {
  description: 'the new certificate',
  content: { 'application/json': { schema: { $ref: '#/components/schemas/IssuedCertificate' } } },
};

export const OPENAPI = {
  openapi: '3.1.0',
  info: {
    title: 'meshca',
    version: '1',
    description:
      'Internal CA for service mTLS. Authenticate with `Authorization: Bearer <enrollment token | API key>` or, for renewal and self-revocation, with your current certificate over mTLS. Errors are `{"error": {"code", "message"}}`.',
  },
  components: {
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', description: 'an enrollment token (JWT from `ca token`) or an API key (`mca_...` from `ca apikey create`)' },
      mtls: { type: 'mutualTLS', description: 'the caller\'s current, unrevoked certificate from this CA' },
    },
    responses: {
      Error: { description: 'refused', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
    },
    schemas: {
      Error: {
        type: 'object',
        required: ['error'],
        properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string', example: 'ERR_TOKEN_REPLAYED' }, message: { type: 'string' } } } },
      },
      SignRequest: {
        type: 'object',
        required: ['csr'],
        additionalProperties: false,
        properties: {
          csr: { type: 'string', description: 'PKCS#10 request, PEM; only its public key is used' },
          name: { type: 'string', maxLength: 64, description: 'subject CN; defaults to the token\'s name, required with an API key' },
          spiffeId: { type: 'string' },
          dnsNames: { type: 'array', items: { type: 'string' } },
          ipAddresses: { type: 'array', items: { type: 'string' } },
          ttl: { type: 'string', example: '24h' },
        },
      },
      IssuedCertificate: {
        type: 'object',
        properties: {
          serial: { type: 'string', pattern: '^[0-9a-f]+$' },
          notBefore: { type: 'string', format: 'date-time' },
          notAfter: { type: 'string', format: 'date-time' },
          spiffeId: { type: ['string', 'null'] },
          dnsNames: { type: 'array', items: { type: 'string' } },
          ipAddresses: { type: 'array', items: { type: 'string' } },
          certificate: { type: 'string', description: 'the leaf, PEM' },
          chain: { type: 'string', description: 'the intermediate, PEM' },
          renewed: { type: 'string', description: 'serial of the certificate this one renews (renew only)' },
        },
      },
      Certificate: {
        type: 'object',
        properties: {
          serial: { type: 'string' },
          name: { type: 'string' },
          notBefore: { type: 'string', format: 'date-time' },
          notAfter: { type: 'string', format: 'date-time' },
          spiffeId: { type: ['string', 'null'] },
          dnsNames: { type: 'array', items: { type: 'string' } },
          ipAddresses: { type: 'array', items: { type: 'string' } },
          status: { enum: ['valid', 'revoked', 'expired'] },
          revokedAt: { type: ['string', 'null'], format: 'date-time' },
          reason: { type: ['string', 'null'] },
          renewedFrom: { type: ['string', 'null'], description: 'serial of the certificate this one renewed' },
          renewedTo: { type: 'array', items: { type: 'string' }, description: 'serials of the certificates renewed from this one (with or without a new key), oldest first' },
          requestedBy: { type: ['string', 'null'], description: 'who asked for it, as audited (acme:<account>, apikey:<name>, token:<subject>, ...); null for certificates issued before meshca kept it' },
          certificate: { type: 'string', description: 'PEM (single-certificate lookups only)' },
        },
      },
      RevocationRequest: {
        type: 'object',
        additionalProperties: false,
        description: 'exactly one of lineage or identity',
        properties: {
          lineage: { type: 'string', description: 'a leaf\'s serial: revoke it, every certificate renewed from it (with or without a new key, transitively) and every certificate with the same public key as one of those' },
          identity: { type: 'string', description: 'revoke every unexpired certificate with an identity this pattern matches (spiffe:, dns:, ip: or untyped, as in API key scopes)', example: 'spiffe:spiffe://acme.internal/ns/dev/**' },
          reason: { type: 'string', default: 'unspecified', example: 'keyCompromise', description: 'keyCompromise also blocks every selected key (and, with identity, widens the selection to the lineage of each match)' },
          dryRun: { type: 'boolean', default: false, description: 'report what would be revoked and change nothing' },
        },
      },
      SelectedCertificate: {
        type: 'object',
        properties: {
          serial: { type: 'string' },
          name: { type: 'string' },
          spiffeId: { type: ['string', 'null'] },
          dnsNames: { type: 'array', items: { type: 'string' } },
          ipAddresses: { type: 'array', items: { type: 'string' } },
          notAfter: { type: 'string', format: 'date-time' },
          renewedFrom: { type: ['string', 'null'] },
        },
      },
      RevocationResult: {
        type: 'object',
        required: ['dryRun', 'reason', 'revoked', 'alreadyRevoked', 'expired', 'skipped', 'keyBlocked', 'keysBlocked'],
        properties: {
          dryRun: { type: 'boolean' },
          reason: { type: 'string' },
          lineage: { type: 'string', description: 'the serial asked for (lineage requests)' },
          identity: { type: 'string', description: 'the pattern asked for, canonical (identity requests)' },
          revoked: { type: 'array', items: { $ref: '#/components/schemas/SelectedCertificate' }, description: 'revoked now (dry run: would be); each has an audit row and is published (CRL, OCSP) like any revocation' },
          alreadyRevoked: { type: 'array', items: { $ref: '#/components/schemas/SelectedCertificate' }, description: 'selected, revoked before: left as they were' },
          expired: { type: 'array', items: { $ref: '#/components/schemas/SelectedCertificate' }, description: 'selected, expired: left as they are (lineage requests; identity requests select unexpired certificates only)' },
          skipped: { type: 'array', items: { $ref: '#/components/schemas/SelectedCertificate' }, description: 'the CA service\'s own certificates (spiffe://TD/meshca/ca): never revoked this way' },
          keyBlocked: { type: 'boolean', description: 'keyCompromise: keys were blocked (dry run: would be)' },
          keysBlocked: { type: 'array', items: { type: 'string' }, description: 'SHA-256 of each blocked SubjectPublicKeyInfo, hex' },
        },
      },
    },
  },
  paths: {
    '/v1/sign': {
      post: {
        summary: 'Issue a certificate for a CSR',
        security: [{ bearer: [] }],
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/SignRequest' } } } },
        responses: { 201: leaf, 400: error, 401: error, 403: error, 413: error, 415: error, 429: error },
      },
    },
    '/v1/renew': {
      post: {
        summary: 'Renew the presented certificate with the same identities, optionally for a new key',
        security: [{ mtls: [] }],
        requestBody: { required: false, content: { 'application/json': { schema: { type: 'object', additionalProperties: false, properties: { csr: { type: 'string' } } } } } },
        responses: { 201: leaf, 400: error, 401: error, 403: error, 409: error, 415: error, 429: error },
      },
    },
    '/v1/certificates': {
      get: {
        summary: 'List certificates (scope: list)',
        security: [{ bearer: [] }],
        parameters: [
          { name: 'status', in: 'query', schema: { enum: ['valid', 'revoked', 'expired'] } },
          { name: 'expiringWithin', in: 'query', schema: { type: 'string', example: '72h' } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 10000 } },
          { name: 'all', in: 'query', description: 'include the CA service\'s own TLS certificates (spiffe://TD/meshca/ca)', schema: { type: 'boolean' } },
          { name: 'identity', in: 'query', description: 'only certificates with an identity this pattern matches (spiffe:, dns:, ip: or untyped, as in API key scopes)', schema: { type: 'string', example: 'spiffe:spiffe://acme.internal/ns/prod/*' } },
          { name: 'order', in: 'query', description: 'by notAfter: asc (soonest first) or desc', schema: { enum: ['asc', 'desc'], default: 'asc' } },
          { name: 'after', in: 'query', description: 'the serial the previous page ended with (its next)', schema: { type: 'string' } },
        ],
        responses: { 200: { description: 'certificates', content: { 'application/json': { schema: { type: 'object', properties: { certificates: { type: 'array', items: { $ref: '#/components/schemas/Certificate' } } } } } } }, 401: error, 403: error },
      },
    },
    '/v1/certificates/{serial}': {
      get: {
        summary: 'One certificate (scope: list)',
        security: [{ bearer: [] }],
        parameters: [{ name: 'serial', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { 200: { description: 'the certificate', content: { 'application/json': { schema: { $ref: '#/components/schemas/Certificate' } } } }, 401: error, 403: error, 404: error },
      },
    },
    '/v1/certificates/{serial}/revoke': {
      post: {
        summary: 'Revoke a certificate (scope: revoke, or the certificate itself over mTLS)',
        security: [{ bearer: [] }, { mtls: [] }],
        parameters: [{ name: 'serial', in: 'path', required: true, schema: { type: 'string' } }],
        requestBody: { required: false, content: { 'application/json': { schema: { type: 'object', additionalProperties: false, properties: { reason: { type: 'string', example: 'keyCompromise' } } } } } },
        responses: { 200: { description: 'revoked (or already revoked: alreadyRevoked true); keyCompromise also reports keyBlocked and alsoRevoked (the other leaves with that key)' }, 400: error, 401: error, 403: error, 404: error },
      },
    },
    '/v1/certificates/{serial}/renewal-info': {
      get: {
        summary: 'When to renew this leaf (RFC 9773 ACME Renewal Information shape; no authentication, like OCSP): renew at a random moment inside suggestedWindow, ask again after Retry-After seconds',
        description:
          'The window is the default one (from 2/3 to 5/6 of the lifetime: a client that draws its end still has a sixth of the lifetime to retry) unless an operator moved it with renew-now (POST /v1/renewal-advice), then explanationURL may say why. Retry-After is a 24th of the lifetime within 60 s..6 h, no later than the window\'s start while that is ahead. A revoked certificate gets a window in the past (its revocation time). Cache-Control: no-store.',
        parameters: [{ name: 'serial', in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9a-fA-F:]+$' } }],
        responses: {
          200: {
            description: 'the window',
            headers: { 'Retry-After': { schema: { type: 'integer', minimum: 1 }, description: 'seconds until asking again' } },
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['suggestedWindow'],
                  properties: {
                    suggestedWindow: { type: 'object', required: ['start', 'end'], properties: { start: { type: 'string', format: 'date-time' }, end: { type: 'string', format: 'date-time' } } },
                    explanationURL: { type: 'string', format: 'uri' },
                  },
                },
              },
            },
          },
          404: error,
          429: error,
        },
      },
    },
    '/v1/renewal-advice': {
      post: {
        summary: 'Renew now: move the renewal window of the leaves a selector covers (issued until now) to [now, now + within] (scope: revoke)',
        description:
          'One rule however many leaves it covers; leaves issued after it (their renewals) keep their default window. `ca renew --daemon` and meshca/tls sources learn it from the push stream at once, else at their next renewal-info poll. Audited as renew-now.',
        security: [{ bearer: [] }],
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                additionalProperties: false,
                description: 'exactly one of serial, identity, issuedBefore, all',
                properties: {
                  serial: { type: 'string', description: 'one leaf (404 when there is no such leaf)' },
                  identity: { type: 'string', description: 'leaves with an identity this pattern matches (spiffe:, dns:, ip: or untyped, as in API key scopes)', example: 'spiffe:spiffe://acme.internal/ns/prod/**' },
                  issuedBefore: { type: 'string', format: 'date-time', description: 'leaves signed before this time (ISO 8601 with a zone)' },
                  all: { const: true },
                  within: { type: 'string', default: '10m', description: 'how long the window lasts, 1s to 7d', example: '10m' },
                  explanationUrl: { type: 'string', format: 'uri', description: 'an http(s) page that says why, served as explanationURL' },
                },
              },
            },
          },
        },
        responses: {
          200: {
            description: 'the rule: {id, selector (as given, canonical), suggestedWindow {start, end}, explanationURL?, matching (unexpired, unrevoked leaves it covers now, the CA service\'s own not counted), matchingCapped? (true when an identity pattern matched more than 100,000 and counting stopped)}',
          },
          400: error,
          401: error,
          403: error,
          404: error,
        },
      },
    },
    '/v1/revocations': {
      post: {
        summary: 'Revoke a certificate\'s lineage, or every unexpired certificate matching an identity pattern (scope: revoke)',
        description: 'Revokes the unexpired, unrevoked certificates selected; already revoked and expired ones are reported, not changed. CA certificates and the CA service\'s own certificates are never revoked this way. Matching nothing is a 200 with empty lists. More than 100,000 selected is 400 ERR_REVOCATION_TOO_BROAD and revokes nothing. A dry run writes nothing but its own audit row (as a read).',
        security: [{ bearer: [] }],
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/RevocationRequest' } } } },
        responses: { 200: { description: 'what was (or, dry run, would be) revoked', content: { 'application/json': { schema: { $ref: '#/components/schemas/RevocationResult' } } } }, 400: error, 401: error, 403: error, 404: error, 409: error },
      },
    },
    '/v1/audit': {
      get: {
        summary: 'The audit log a page at a time, oldest first or newest first, filtered (scope: audit)',
        security: [{ bearer: [] }],
        parameters: [
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 10000, default: 1000 } },
          { name: 'order', in: 'query', schema: { enum: ['asc', 'desc'], default: 'asc' } },
          { name: 'after', in: 'query', description: 'rows after this id (order=asc)', schema: { type: 'integer', minimum: 0, default: 0 } },
          { name: 'before', in: 'query', description: 'rows below this id (order=desc)', schema: { type: 'integer', minimum: 1 } },
          { name: 'actor', in: 'query', description: 'exact actor (apikey:ops, acme:ID, ...)', schema: { type: 'string' } },
          { name: 'action', in: 'query', description: 'exact action (issue, revoke, apikey-create, ...)', schema: { type: 'string' } },
          { name: 'target', in: 'query', description: 'exact target (a serial, apikey:NAME, ...)', schema: { type: 'string' } },
          { name: 'outcome', in: 'query', schema: { enum: ['ok', 'refused', 'noop'] } },
          { name: 'since', in: 'query', schema: { type: 'string', format: 'date-time' } },
          { name: 'until', in: 'query', schema: { type: 'string', format: 'date-time' } },
        ],
        responses: { 200: { description: '{events, next}: next is the after (or before) of the next page, null on the last; a filtered request reads at most 50,000 rows and says where to go on' }, 400: error, 401: error, 403: error },
      },
    },
    '/v1/audit/verify': {
      get: { summary: 'Walks the whole audit chain (scope: audit)', security: [{ bearer: [] }], responses: { 200: { description: '{ok, rows, lastId} or {ok: false, rowId, problem, message}' }, 401: error, 403: error } },
    },
    '/v1/whoami': {
      get: { summary: 'The API key presented: {actor, name, scopes, expiresAt, trustDomain}', security: [{ bearer: [] }], responses: { 200: { description: 'the key' }, 401: error } },
    },
    '/v1/overview': {
      get: {
        summary: 'The fleet at a glance (scope: list)',
        security: [{ bearer: [] }],
        responses: { 200: { description: '{at, certificates: {valid, expiring24h, expiring7d, expired, revoked}, expiryTimeline: [{from, count}] (14 days), ca: {root, intermediates}, ocspSigners, crls: [{level, issuerKeyId, number, thisUpdate, nextUpdate}], activity: {minutes, issued[], revoked[], refused[]} (per minute, this replica)}' }, 401: error, 403: error },
      },
    },
    '/v1/apikeys': {
      get: { summary: 'API keys, never their secrets (scope: apikeys)', security: [{ bearer: [] }], responses: { 200: { description: '{apiKeys: [{name, id, scopes, createdAt, expiresAt, lastUsedAt, status}]}' }, 401: error, 403: error } },
      post: {
        summary: 'Creates an API key with scopes the caller holds itself (scope: apikeys); the key is in the answer only',
        security: [{ bearer: [] }],
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', additionalProperties: false, required: ['name', 'scopes'], properties: { name: { type: 'string' }, scopes: { type: 'array', items: { type: 'string' } }, expires: { type: 'string', description: 'duration, at most 90d' } } } } } },
        responses: { 201: { description: '{key, name, id, scopes, expiresAt, status}' }, 400: error, 401: error, 403: error, 409: error },
      },
    },
    '/v1/apikeys/{name}/revoke': {
      post: { summary: 'Revokes the active API key of that name (scope: apikeys)', security: [{ bearer: [] }], parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }], responses: { 200: { description: 'the key, revoked' }, 401: error, 403: error, 404: error } },
    },
    '/v1/tokens': {
      post: {
        summary: "An enrollment token for identities the caller's issue: scopes cover",
        security: [{ bearer: [] }],
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: { type: 'string' }, spiffeId: { type: 'string' }, dnsNames: { type: 'array', items: { type: 'string' } }, ipAddresses: { type: 'array', items: { type: 'string' } }, ttl: { type: 'string', description: 'token lifetime, at most 1h (default 5m)' }, certTtl: { type: 'string' } } } } } },
        responses: { 201: { description: '{token, jti, expiresAt}' }, 400: error, 401: error, 403: error },
      },
    },
    '/v1/audit/head': {
      get: {
        summary: 'The latest signed head of the audit chain (no authentication; also on the HTTP listener): record it elsewhere, check it later with `ca audit verify --head`',
        responses: {
          200: { description: '{id, seal, at, jws, publicKey: {jwk, thumbprint}}: jws is an ES256 compact JWS (typ meshca-audit-head+jwt, kid the thumbprint) over {td, id, seal, iat}' },
          503: error,
        },
      },
    },
    '/v1/trust-bundle': {
      get: { summary: 'Root and intermediate certificates, PEM (no authentication; also on the HTTP listener)', responses: { 200: { description: 'PEM', content: { 'application/x-pem-file': {} } } } },
    },
    '/v1/openapi.json': { get: { summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1' } } } },
  },
} as const;
