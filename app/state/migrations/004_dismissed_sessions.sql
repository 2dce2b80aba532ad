-- A session an operator dismissed on purpose (`uploader-agent dismiss`), with who and why: its
-- folder was deleted and it will never be uploaded. Like processed, a dismissed session no
-- longer holds its folder path, so a folder created at that path later is a new session.
ALTER TABLE uploader_sessions DROP CONSTRAINT uploader_sessions_status_check;
ALTER TABLE uploader_sessions ADD CONSTRAINT uploader_sessions_status_check CHECK (status IN (
  'waiting_for_stable', 'ready_to_upload', 'uploading', 'uploaded', 'processed', 'failed', 'needs_attention', 'dismissed'
));
ALTER TABLE uploader_sessions
  ADD COLUMN dismissed_by text,
  ADD COLUMN dismissed_reason text,
  ADD COLUMN dismissed_at timestamptz;

DROP INDEX uploader_sessions_active_folder;
CREATE UNIQUE INDEX uploader_sessions_active_folder ON uploader_sessions (folder_path) WHERE status <> 'processed' AND status <> 'dismissed';
