-- Workspace secrets: NAME -> value, given to the workspace's kernels as environment variables.
-- Only ciphertext is stored: AES-256-GCM as `v1:<iv>:<tag>:<ct>` (base64), with the workspace id and
-- the name as associated data, so a value copied to another row does not decrypt. The key lives outside
-- the database (CELLFLOW_SECRETS_KEY, or the key file beside the data), so a copy of the database or a
-- backup of it alone reveals no value.
CREATE TABLE secrets (
  workspace_id text NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  name text NOT NULL,
  ciphertext text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, name)
);
