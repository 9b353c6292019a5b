-- Notifications (issue 19): rules say which run events (Failed, Crashed, Late, Completed, Recovered)
-- of a flow, or of every flow of the workspace, go to which destination (a Slack-compatible webhook, a
-- signed generic webhook, or an e-mail address). The destination (URL, signing secret, address) is a
-- secret: only its ciphertext is stored, sealed as workspace secrets are, with a masked form to show.
CREATE TABLE notification_rules (
  id text PRIMARY KEY,
  workspace_id text NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  -- NULL: every flow of the workspace.
  flow_id text REFERENCES flows(id) ON DELETE CASCADE,
  events text[] NOT NULL,
  kind text NOT NULL,
  target_ciphertext text NOT NULL,
  target_masked text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notification_rules_workspace_idx ON notification_rules (workspace_id);

-- One row per (rule, run, event), queued in the transaction that records the run's state: the unique
-- key makes a repeat (a second writer, a restart) add nothing. A delivery loop claims due rows
-- (state Pending, or Sending whose lease ran out), sends, and records the outcome or the next try.
-- No foreign key to the run: retention may remove the run, its delivery record stays.
CREATE TABLE notification_deliveries (
  id text PRIMARY KEY,
  seq bigserial NOT NULL UNIQUE,
  rule_id text NOT NULL REFERENCES notification_rules(id) ON DELETE CASCADE,
  workspace_id text NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  flow_id text,
  flow_run_id text NOT NULL,
  event text NOT NULL,
  state text NOT NULL DEFAULT 'Pending',
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  lease_expires_at timestamptz,
  last_error text,
  -- The failed attempts, oldest first (at most the last few): [{ "at": ..., "error": ... }].
  failures jsonb NOT NULL DEFAULT '[]',
  created_at timestamptz NOT NULL DEFAULT now(),
  delivered_at timestamptz,
  CONSTRAINT notification_deliveries_once_key UNIQUE (rule_id, flow_run_id, event)
);
CREATE INDEX notification_deliveries_due_idx ON notification_deliveries (state, next_attempt_at);
CREATE INDEX notification_deliveries_workspace_idx ON notification_deliveries (workspace_id, seq);
