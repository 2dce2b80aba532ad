-- Multipart uploads in progress, so an interrupted large file resumes from its completed parts
-- instead of starting over, and no upload is left behind unknown.
CREATE TABLE uploader_multipart_uploads (
  session_pk bigint NOT NULL REFERENCES uploader_sessions (id) ON DELETE CASCADE,
  relative_path text NOT NULL,
  object_key text NOT NULL,
  upload_id text NOT NULL,
  part_size bigint NOT NULL,
  size bigint NOT NULL,
  mtime_ns text NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (session_pk, relative_path)
);

CREATE TABLE uploader_multipart_parts (
  upload_id text NOT NULL,
  part_number integer NOT NULL,
  etag text NOT NULL,
  size bigint NOT NULL,
  checksum_crc32 text,
  PRIMARY KEY (upload_id, part_number)
);
