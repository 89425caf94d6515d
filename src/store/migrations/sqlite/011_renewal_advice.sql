-- "Renew now" rules (RFC 9773 renewal information): an operator's selector and the window it sets, one row however
-- many leaves it covers. A rule covers only leaves issued no later than it was made (created_at). The selector is
-- one of: a serial, an identity pattern (typed, as in API-key scopes), leaves issued before a time, or all leaves.
CREATE TABLE renewal_advice (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  created_at      INTEGER NOT NULL,
  actor           TEXT    NOT NULL,
  selector        TEXT    NOT NULL CHECK (selector IN ('serial', 'identity', 'issued-before', 'all')),
  serial          TEXT,
  identity        TEXT,
  issued_before   INTEGER,
  window_start    INTEGER NOT NULL,
  window_end      INTEGER NOT NULL,
  explanation_url TEXT,
  CHECK ((selector = 'serial') = (serial IS NOT NULL)),
  CHECK ((selector = 'identity') = (identity IS NOT NULL)),
  CHECK ((selector = 'issued-before') = (issued_before IS NOT NULL)),
  CHECK (window_start <= window_end)
);
CREATE INDEX renewal_advice_by_created_at ON renewal_advice (created_at);
