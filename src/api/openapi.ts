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
          certificate: { type: 'string', description: 'PEM (single-certificate lookups only)' },
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
    '/v1/audit': {
      get: {
        summary: 'The audit log a page at a time, oldest first (scope: audit)',
        security: [{ bearer: [] }],
        parameters: [
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 10000, default: 1000 } },
          { name: 'after', in: 'query', description: 'rows after this id', schema: { type: 'integer', minimum: 0, default: 0 } },
        ],
        responses: { 200: { description: '{events, next}: next is the after of the next page, null on the last' }, 400: error, 401: error, 403: error },
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
