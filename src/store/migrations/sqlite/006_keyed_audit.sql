-- The audit chain is keyed: every row is resealed with an HMAC whose key lives in private/audit.key, not in the
-- database, so someone who can write ca.db can no longer recompute the chain. The data step (sqlite-store.ts)
-- reseals the rows and records what the unkeyed chain looked like at that moment.
SELECT 1;
