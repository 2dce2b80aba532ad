-- One row per session folder found on a share. A folder that is processed and later
-- reappears at the same path gets a new row; an active folder has exactly one.
CREATE TABLE uploader_sessions (
  id bigserial PRIMARY KEY,
  folder_path text NOT NULL,
  folder_name text NOT NULL,
  root_path text NOT NULL,
  profile text NOT NULL,
  session_id text,
  status text NOT NULL DEFAULT 'waiting_for_stable' CHECK (status IN (
    'waiting_for_stable', 'ready_to_upload', 'uploading', 'uploaded', 'processed', 'failed', 'needs_attention'
  )),
  manifest_hash text,
  file_count integer,
  total_bytes bigint,
  processed_path text,
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  last_error text,
  last_error_code text,
  observed_state text,
  observed_since timestamptz,
  observed_at timestamptz,
  lease_owner text,
  lease_token text,
  lease_expires_at timestamptz,
  discovered_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  stable_at timestamptz,
  uploaded_at timestamptz,
  processed_at timestamptz
);

CREATE UNIQUE INDEX uploader_sessions_active_folder ON uploader_sessions (folder_path) WHERE status <> 'processed';
CREATE INDEX uploader_sessions_due ON uploader_sessions (root_path, status, next_attempt_at) WHERE status <> 'processed';
CREATE INDEX uploader_sessions_session_id ON uploader_sessions (session_id);

-- Who owns a session_id, i.e. its key space in S3. Taken once, never overwritten.
CREATE TABLE uploader_session_ids (
  session_id text PRIMARY KEY,
  session_pk bigint NOT NULL REFERENCES uploader_sessions (id),
  claimed_at timestamptz NOT NULL
);

CREATE TABLE uploader_files (
  session_pk bigint NOT NULL REFERENCES uploader_sessions (id) ON DELETE CASCADE,
  relative_path text NOT NULL,
  size bigint NOT NULL,
  mtime_ns text NOT NULL,
  sha256 text,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'uploaded')),
  etag text,
  uploaded_at timestamptz,
  PRIMARY KEY (session_pk, relative_path)
);

-- Every state transition, for `status SESSION_ID` and for audits.
CREATE TABLE uploader_events (
  id bigserial PRIMARY KEY,
  session_pk bigint NOT NULL REFERENCES uploader_sessions (id) ON DELETE CASCADE,
  from_status text,
  to_status text NOT NULL,
  reason text,
  agent_id text NOT NULL,
  at timestamptz NOT NULL
);
CREATE INDEX uploader_events_session ON uploader_events (session_pk, id);
