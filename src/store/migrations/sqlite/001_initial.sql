-- Certificates, their revocations, per-issuer CRL numbers and the audit log.
CREATE TABLE certificates (
  serial            TEXT    NOT NULL PRIMARY KEY,           -- canonical lowercase hex; unique across the CA
  kind              TEXT    NOT NULL CHECK (kind IN ('root', 'intermediate', 'leaf')),
  issuer_key_id     TEXT    NOT NULL,                       -- hex AKI of the issuer
  common_name       TEXT    NOT NULL,
  spiffe_id         TEXT,
  dns_names         TEXT    NOT NULL DEFAULT '[]',          -- JSON array
  ip_addresses      TEXT    NOT NULL DEFAULT '[]',          -- JSON array
  not_before        INTEGER NOT NULL,                       -- unix seconds
  not_after         INTEGER NOT NULL,
  der               BLOB    NOT NULL,
  revoked_at        INTEGER,
  revocation_reason TEXT,
  CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL))
);
CREATE INDEX certificates_by_not_after ON certificates (not_after);
CREATE INDEX certificates_revoked_by_issuer ON certificates (issuer_key_id, serial) WHERE revoked_at IS NOT NULL;
CREATE INDEX certificates_by_spiffe_id ON certificates (spiffe_id);

CREATE TABLE crl_numbers (
  issuer_key_id TEXT    NOT NULL PRIMARY KEY,
  last_number   INTEGER NOT NULL
);

CREATE TABLE audit_log (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  at      INTEGER NOT NULL,
  actor   TEXT    NOT NULL,
  action  TEXT    NOT NULL,
  target  TEXT,
  outcome TEXT    NOT NULL CHECK (outcome IN ('ok', 'refused', 'noop')),
  detail  TEXT                                              -- JSON object
);
