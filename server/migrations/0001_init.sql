-- Cellflow store, version 1. Forward-only: a later change is a new numbered file, never an edit here.
-- Ids are text UUIDs made by the server (crypto.randomUUID()), so rows can be named before insert.

CREATE TABLE workspaces (
  id text PRIMARY KEY,
  name text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
  id text PRIMARY KEY,
  workspace_id text NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  name text NOT NULL,
  -- The first 8 characters of the secret, so a user can tell keys apart; never enough to use one.
  prefix text NOT NULL,
  -- SHA-256 hex of the secret. The secret itself is shown once at creation and never stored.
  hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);
CREATE INDEX api_keys_workspace_idx ON api_keys (workspace_id);

CREATE TABLE flows (
  id text PRIMARY KEY,
  workspace_id text NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  name text NOT NULL,
  paused boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  latest_version integer NOT NULL DEFAULT 0,
  CONSTRAINT flows_workspace_name_key UNIQUE (workspace_id, name)
);

-- Immutable: a deploy adds a version, it never rewrites one, so a run always knows what it ran.
CREATE TABLE flow_versions (
  flow_id text NOT NULL REFERENCES flows(id) ON DELETE CASCADE,
  version integer NOT NULL,
  spec jsonb NOT NULL,
  notebook jsonb NOT NULL,
  kernel_name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (flow_id, version)
);

CREATE TABLE schedules (
  id text PRIMARY KEY,
  flow_id text NOT NULL REFERENCES flows(id) ON DELETE CASCADE,
  kind text NOT NULL CHECK (kind IN ('interval', 'cron')),
  spec jsonb NOT NULL,
  paused boolean NOT NULL DEFAULT false,
  parameters jsonb NOT NULL DEFAULT '{}'::jsonb,
  missed_policy text NOT NULL DEFAULT 'skip',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX schedules_flow_idx ON schedules (flow_id);

CREATE TABLE flow_runs (
  id text PRIMARY KEY,
  -- Insertion order, for newest-first listing and cursors (timestamps can tie).
  seq bigserial NOT NULL UNIQUE,
  workspace_id text NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  flow_id text NOT NULL REFERENCES flows(id) ON DELETE CASCADE,
  flow_version integer NOT NULL,
  state text NOT NULL,
  trigger text NOT NULL CHECK (trigger IN ('manual', 'scheduled', 'retry')),
  schedule_id text REFERENCES schedules(id) ON DELETE SET NULL,
  scheduled_at timestamptz,
  started_at timestamptz,
  ended_at timestamptz,
  parameters jsonb NOT NULL DEFAULT '{}'::jsonb,
  error text,
  state_reason text,
  created_at timestamptz NOT NULL DEFAULT now(),
  lease_owner text,
  lease_expires_at timestamptz,
  -- One run per schedule tick, even with several schedulers: the insert that loses does nothing.
  CONSTRAINT flow_runs_schedule_tick_key UNIQUE (flow_id, schedule_id, scheduled_at),
  FOREIGN KEY (flow_id, flow_version) REFERENCES flow_versions(flow_id, version) ON DELETE CASCADE
);
CREATE INDEX flow_runs_workspace_seq_idx ON flow_runs (workspace_id, seq DESC);
CREATE INDEX flow_runs_flow_seq_idx ON flow_runs (flow_id, seq DESC);
CREATE INDEX flow_runs_state_idx ON flow_runs (state);

CREATE TABLE task_runs (
  id text PRIMARY KEY,
  flow_run_id text NOT NULL REFERENCES flow_runs(id) ON DELETE CASCADE,
  task_name text NOT NULL,
  -- The task's place in the flow, so a run lists its tasks in flow order.
  position integer NOT NULL DEFAULT 0,
  state text NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  started_at timestamptz,
  ended_at timestamptz,
  error text,
  CONSTRAINT task_runs_run_task_key UNIQUE (flow_run_id, task_name)
);

CREATE TABLE task_attempts (
  id text PRIMARY KEY,
  task_run_id text NOT NULL REFERENCES task_runs(id) ON DELETE CASCADE,
  attempt integer NOT NULL,
  state text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  ended_at timestamptz,
  error_name text,
  error_value text,
  traceback jsonb,
  outputs jsonb NOT NULL DEFAULT '[]'::jsonb,
  outputs_truncated boolean NOT NULL DEFAULT false,
  CONSTRAINT task_attempts_task_attempt_key UNIQUE (task_run_id, attempt)
);

CREATE TABLE log_lines (
  id bigserial PRIMARY KEY,
  flow_run_id text NOT NULL REFERENCES flow_runs(id) ON DELETE CASCADE,
  task_name text,
  attempt integer,
  stream text NOT NULL,
  text text NOT NULL,
  at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX log_lines_run_idx ON log_lines (flow_run_id, id);

-- History, not live rows: no foreign keys to flows or runs, so deleting a flow keeps what happened.
CREATE TABLE events (
  id bigserial PRIMARY KEY,
  workspace_id text NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  flow_id text,
  flow_run_id text,
  type text NOT NULL,
  payload jsonb NOT NULL DEFAULT '{}'::jsonb,
  at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_workspace_id_idx ON events (workspace_id, id);

CREATE TABLE executed_notebooks (
  flow_run_id text PRIMARY KEY REFERENCES flow_runs(id) ON DELETE CASCADE,
  notebook jsonb NOT NULL,
  saved_at timestamptz NOT NULL DEFAULT now()
);
