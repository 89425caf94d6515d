-- An append-only sequence of revocations: lets a running service notice any revocation (its own or a local
-- `ca revoke`) with one indexed read, and refresh exactly what changed.
CREATE TABLE revocation_log (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  serial     TEXT    NOT NULL,
  revoked_at INTEGER NOT NULL
);
INSERT INTO revocation_log (serial, revoked_at) SELECT serial, revoked_at FROM certificates WHERE revoked_at IS NOT NULL ORDER BY revoked_at;
