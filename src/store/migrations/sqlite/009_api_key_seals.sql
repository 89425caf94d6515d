-- API keys are sealed: an HMAC under the audit seal key over what each key may do and whether it still may, so a
-- key inserted, widened, extended or un-revoked by someone who can write ca.db but not read private/ is refused.
-- The data step seals the stored keys (revoking one that migration 007 left with no scope).
ALTER TABLE api_keys ADD COLUMN seal BLOB;
