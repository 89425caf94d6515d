-- ACME (RFC 8555), as SQLite's migration 012 makes it: external-account keys the operator hands out, the accounts bound with them, the nonces handed to
-- clients (spent once, by any replica), and orders with their authorizations and challenges. Identifiers are stored
-- as the client asked (type, value); the certificate an order produced is a leaf like any other (certificates.serial).
CREATE TABLE acme_eab_keys (
  kid          TEXT    NOT NULL PRIMARY KEY,
  name         TEXT    NOT NULL,
  scopes       TEXT    NOT NULL,                 -- JSON array of typed scope texts (issue:dns:..., issue:ip:..., issue:spiffe:...)
  sealed_key   BYTEA   NOT NULL,                 -- the HMAC key, AES-256-GCM under a key derived from the CA's seal key
  created_at   BIGINT  NOT NULL,
  expires_at   BIGINT  NOT NULL,
  revoked_at   BIGINT,
  last_used_at BIGINT
);
CREATE UNIQUE INDEX acme_eab_keys_active_name ON acme_eab_keys (name) WHERE revoked_at IS NULL;

CREATE TABLE acme_accounts (
  id          TEXT    NOT NULL PRIMARY KEY,
  thumbprint  TEXT    NOT NULL UNIQUE,           -- RFC 7638 SHA-256 thumbprint of the account key
  jwk         TEXT    NOT NULL,
  status      TEXT    NOT NULL CHECK (status IN ('valid', 'deactivated', 'revoked')),
  contact     TEXT    NOT NULL DEFAULT '[]',
  eab_kid     TEXT    NOT NULL REFERENCES acme_eab_keys (kid),
  created_at  BIGINT  NOT NULL
);

CREATE TABLE acme_spent_nonces (
  nonce      TEXT    NOT NULL PRIMARY KEY,
  expires_at BIGINT  NOT NULL
);
CREATE INDEX acme_spent_nonces_by_expiry ON acme_spent_nonces (expires_at);

CREATE TABLE acme_orders (
  id                 TEXT    NOT NULL PRIMARY KEY,
  account_id         TEXT    NOT NULL REFERENCES acme_accounts (id),
  status             TEXT    NOT NULL CHECK (status IN ('pending', 'ready', 'processing', 'valid', 'invalid')),
  identifiers        TEXT    NOT NULL,           -- JSON array of {type, value}
  created_at         BIGINT  NOT NULL,
  expires_at         BIGINT  NOT NULL,
  error              TEXT,                       -- a problem document (JSON) once invalid
  certificate_serial TEXT
);
CREATE INDEX acme_orders_by_account ON acme_orders (account_id, created_at);
CREATE INDEX acme_orders_by_certificate ON acme_orders (certificate_serial) WHERE certificate_serial IS NOT NULL;
CREATE INDEX acme_orders_by_expiry ON acme_orders (expires_at) WHERE certificate_serial IS NULL;

CREATE TABLE acme_authorizations (
  id               TEXT    NOT NULL PRIMARY KEY,
  order_id         TEXT    NOT NULL REFERENCES acme_orders (id),
  account_id       TEXT    NOT NULL REFERENCES acme_accounts (id),
  identifier_type  TEXT    NOT NULL CHECK (identifier_type IN ('dns', 'ip', 'spiffe')),
  identifier_value TEXT    NOT NULL,
  status           TEXT    NOT NULL CHECK (status IN ('pending', 'valid', 'invalid', 'deactivated', 'expired', 'revoked')),
  expires_at       BIGINT  NOT NULL
);
CREATE INDEX acme_authorizations_by_order ON acme_authorizations (order_id);

CREATE TABLE acme_challenges (
  id               TEXT    NOT NULL PRIMARY KEY,
  authorization_id TEXT    NOT NULL REFERENCES acme_authorizations (id),
  type             TEXT    NOT NULL CHECK (type IN ('http-01', 'tls-alpn-01')),
  token            TEXT    NOT NULL,
  status           TEXT    NOT NULL CHECK (status IN ('pending', 'processing', 'valid', 'invalid')),
  validated_at     BIGINT,
  error            TEXT
);
CREATE INDEX acme_challenges_by_authorization ON acme_challenges (authorization_id);

-- Who asked for each certificate (the audit's actor), shown by ca list; NULL for those issued before.
ALTER TABLE certificates ADD COLUMN requested_by TEXT;
