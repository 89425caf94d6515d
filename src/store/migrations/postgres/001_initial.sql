-- The CA on PostgreSQL, as SQLite's migrations 001-010 leave it: certificates and their revocations, per-issuer CRL
-- numbers, the sealed audit log and its id counter, API keys, spent enrollment tokens, blocked keys, the root's CRL
-- and the fingerprints of the keys every replica must share. Times are unix seconds; serials and key ids are
-- lowercase hex compared byte by byte (COLLATE "C"), as SQLite compares them.
CREATE TABLE certificates (
  serial            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  kind              TEXT    NOT NULL CHECK (kind IN ('root', 'intermediate', 'leaf')),
  issuer_key_id     TEXT COLLATE "C" NOT NULL,
  common_name       TEXT    NOT NULL,
  spiffe_id         TEXT,
  dns_names         TEXT    NOT NULL DEFAULT '[]',
  ip_addresses      TEXT    NOT NULL DEFAULT '[]',
  not_before        BIGINT  NOT NULL,
  not_after         BIGINT  NOT NULL,
  der               BYTEA   NOT NULL,
  revoked_at        BIGINT,
  revocation_reason TEXT,
  subject_key_hash  TEXT COLLATE "C" NOT NULL,
  renewed_from      TEXT COLLATE "C",
  issued_at         BIGINT  NOT NULL,
  CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL))
);
CREATE INDEX certificates_by_not_after ON certificates (not_after);
CREATE INDEX certificates_revoked_by_issuer ON certificates (issuer_key_id, serial) INCLUDE (not_after, revoked_at, revocation_reason) WHERE revoked_at IS NOT NULL;
CREATE INDEX certificates_by_spiffe_id ON certificates (spiffe_id);
CREATE INDEX certificates_by_subject_key ON certificates (subject_key_hash);
CREATE INDEX certificates_by_renewed_from ON certificates (renewed_from) WHERE renewed_from IS NOT NULL;
CREATE INDEX certificates_ca ON certificates (not_before, serial) WHERE kind <> 'leaf';

CREATE TABLE crl_numbers (
  issuer_key_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  last_number   BIGINT NOT NULL
);

CREATE TABLE audit_log (
  id        BIGINT NOT NULL PRIMARY KEY,
  at        BIGINT NOT NULL,
  actor     TEXT   NOT NULL,
  action    TEXT   NOT NULL,
  target    TEXT,
  outcome   TEXT   NOT NULL CHECK (outcome IN ('ok', 'refused', 'noop')),
  detail    TEXT,
  prev_hash BYTEA,
  hash      BYTEA
);
-- The audit id counter (SQLite's AUTOINCREMENT sequence): the next row is last_id + 1, so a row deleted from the
-- end leaves a hole once another is written.
CREATE TABLE audit_head (
  singleton BOOLEAN NOT NULL PRIMARY KEY DEFAULT TRUE CHECK (singleton),
  last_id   BIGINT  NOT NULL
);
INSERT INTO audit_head (singleton, last_id) VALUES (TRUE, 0);

CREATE TABLE api_keys (
  id           TEXT   NOT NULL PRIMARY KEY,
  name         TEXT   NOT NULL,
  secret_hash  BYTEA  NOT NULL,
  scopes       TEXT   NOT NULL,
  created_at   BIGINT NOT NULL,
  expires_at   BIGINT NOT NULL,
  revoked_at   BIGINT,
  last_used_at BIGINT,
  seal         BYTEA
);
CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL;

CREATE TABLE used_tokens (
  jti        TEXT   NOT NULL PRIMARY KEY,
  used_at    BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  serial     TEXT
);

-- Every revocation in commit order (writers hold one lock, so the sequence follows commits): replicas read what
-- changed since the last number they saw.
CREATE TABLE revocation_log (
  seq        BIGSERIAL NOT NULL PRIMARY KEY,
  serial     TEXT   NOT NULL,
  revoked_at BIGINT NOT NULL
);

CREATE TABLE blocked_keys (
  subject_key_hash TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  blocked_at       BIGINT NOT NULL,
  serial           TEXT   NOT NULL
);

-- The newest CRL of each issuer: the root's as signed with the root key, each intermediate's as last signed by any
-- replica (the others serve it rather than sign their own, so every replica serves the same numbers).
CREATE TABLE crls (
  issuer_key_id  TEXT   NOT NULL PRIMARY KEY,
  level          TEXT   NOT NULL CHECK (level IN ('root', 'intermediate')),
  number         BIGINT NOT NULL,
  der            BYTEA  NOT NULL,
  this_update    BIGINT NOT NULL,
  next_update    BIGINT NOT NULL,
  revocation_seq BIGINT NOT NULL
);

CREATE TABLE fingerprints (
  name  TEXT NOT NULL PRIMARY KEY,
  value TEXT NOT NULL
);
