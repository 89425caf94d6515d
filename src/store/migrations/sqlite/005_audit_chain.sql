-- Tamper evidence: each audit row carries the hash of the row before it and its own hash over that and its
-- content (SHA-256). Rows written before this migration are chained by the migration itself (see sqlite-store.ts).
ALTER TABLE audit_log ADD COLUMN prev_hash BLOB;
ALTER TABLE audit_log ADD COLUMN hash BLOB;
