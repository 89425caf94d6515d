-- API key scopes are typed (issue:spiffe:, issue:dns:, issue:ip:). The data step (sqlite-store.ts) rewrites every
-- stored untyped issue: glob as the one type its form implies, drops one no type fits, and audits each change.
SELECT 1;
