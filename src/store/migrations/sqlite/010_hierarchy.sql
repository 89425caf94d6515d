-- The CA hierarchy lives in the store, so every process serving the CA (and, on PostgreSQL, every replica) reads
-- the same one: the newest CRL of each issuer (the root's as signed with the root key; each intermediate's as last
-- signed by any process, which the others serve rather than sign their own), fingerprints of the keys replicas must
-- share, and an index for the few certificates that are not leaves.
CREATE TABLE crls (
  issuer_key_id  TEXT    NOT NULL PRIMARY KEY,
  level          TEXT    NOT NULL CHECK (level IN ('root', 'intermediate')),
  number         INTEGER NOT NULL,
  der            BLOB    NOT NULL,
  this_update    INTEGER NOT NULL,
  next_update    INTEGER NOT NULL,
  revocation_seq INTEGER NOT NULL   -- the revocation log as far as the CRL lists it
);

CREATE TABLE fingerprints (
  name  TEXT NOT NULL PRIMARY KEY,   -- e.g. token-key, audit-key
  value TEXT NOT NULL
);

CREATE INDEX certificates_ca ON certificates (not_before, serial) WHERE kind <> 'leaf';
