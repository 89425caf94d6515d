-- CRLs read every revoked certificate of an issuer in serial order: a covering index answers that read without
-- touching the certificates table (one b-tree walk instead of one table lookup per entry).
DROP INDEX certificates_revoked_by_issuer;
CREATE INDEX certificates_revoked_by_issuer ON certificates (issuer_key_id, serial, not_after, revoked_at, revocation_reason) WHERE revoked_at IS NOT NULL;
