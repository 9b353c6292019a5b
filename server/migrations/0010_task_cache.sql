-- Task caching (`%%task NAME --cache-for 1h`): one row per (workspace, cache key) holding what a
-- completed task set (its variables, serialised in the kernel) and its outputs, until it expires.
-- Entries are never shared across workspaces: the key alone finds nothing, the workspace is part of it.
-- No foreign key to the run that made the entry: retention may remove the run, the entry lives on
-- until it expires or is evicted (least recently used first, past the workspace's size bound).
CREATE TABLE task_cache (
  workspace_id text NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  cache_key text NOT NULL,
  task_name text NOT NULL,
  flow_run_id text NOT NULL,
  -- { "variables": { serializer, values, modules }, "outputs": [nbformat outputs] }
  entry jsonb NOT NULL,
  size_bytes bigint NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  last_used_at timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, cache_key)
);
CREATE INDEX task_cache_expires_idx ON task_cache (expires_at);
CREATE INDEX task_cache_used_idx ON task_cache (workspace_id, last_used_at);
