-- Keys and lineage: the SHA-256 of each certificate's SubjectPublicKeyInfo (what a keyCompromise revocation blocks),
-- the leaf it renewed, and when it was signed; and the keys blocked for good. The data step fills the new columns
-- for existing rows.
ALTER TABLE certificates ADD COLUMN subject_key_hash TEXT;
ALTER TABLE certificates ADD COLUMN renewed_from TEXT;
ALTER TABLE certificates ADD COLUMN issued_at INTEGER;
CREATE INDEX certificates_by_subject_key ON certificates (subject_key_hash);
CREATE INDEX certificates_by_renewed_from ON certificates (renewed_from) WHERE renewed_from IS NOT NULL;

CREATE TABLE blocked_keys (
  subject_key_hash TEXT    NOT NULL PRIMARY KEY,   -- hex SHA-256 of the SubjectPublicKeyInfo DER
  blocked_at       INTEGER NOT NULL,
  serial           TEXT    NOT NULL                -- the certificate whose keyCompromise revocation blocked it
);
