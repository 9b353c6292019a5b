-- Work pools, as Prefect has them: a flow's runs are executed only by a process serving its pool.
ALTER TABLE flows ADD COLUMN pool text NOT NULL DEFAULT 'default';

-- The processes that execute runs (workers, and servers with an executor), with the pools they serve.
-- A heartbeat every third of a lease says one is alive; a draining one claims nothing new.
CREATE TABLE workers (
  id text PRIMARY KEY,
  name text NOT NULL,
  pools text[] NOT NULL,
  host text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  draining boolean NOT NULL DEFAULT false
);
CREATE INDEX workers_heartbeat_idx ON workers (heartbeat_at);
