-- "Renew now" rules, as SQLite's migration 011 makes them: an operator's selector and the window it sets, one row
-- however many leaves it covers. Ids follow commit order (writers hold one lock): replicas and the push stream
-- resume from the last id they saw.
CREATE TABLE renewal_advice (
  id              BIGSERIAL NOT NULL PRIMARY KEY,
  created_at      BIGINT  NOT NULL,
  actor           TEXT    NOT NULL,
  selector        TEXT    NOT NULL CHECK (selector IN ('serial', 'identity', 'issued-before', 'all')),
  serial          TEXT COLLATE "C",
  identity        TEXT,
  issued_before   BIGINT,
  window_start    BIGINT  NOT NULL,
  window_end      BIGINT  NOT NULL,
  explanation_url TEXT,
  CHECK ((selector = 'serial') = (serial IS NOT NULL)),
  CHECK ((selector = 'identity') = (identity IS NOT NULL)),
  CHECK ((selector = 'issued-before') = (issued_before IS NOT NULL)),
  CHECK (window_start <= window_end)
);
CREATE INDEX renewal_advice_by_created_at ON renewal_advice (created_at);
