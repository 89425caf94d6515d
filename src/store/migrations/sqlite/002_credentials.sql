-- API keys (stored only as a hash of their secret) and the enrollment tokens already spent.
CREATE TABLE api_keys (
  id           TEXT    NOT NULL PRIMARY KEY,   -- public key id, the middle part of the key string
  name         TEXT    NOT NULL,
  secret_hash  BLOB    NOT NULL,               -- SHA-256 of the 256-bit secret
  scopes       TEXT    NOT NULL,               -- JSON array
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,
  revoked_at   INTEGER,
  last_used_at INTEGER
);
CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL;

CREATE TABLE used_tokens (
  jti        TEXT    NOT NULL PRIMARY KEY,
  used_at    INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  serial     TEXT
);
