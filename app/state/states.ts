/** Mirrored by the CHECK constraint on uploader_sessions.status (latest in migrations/004_dismissed_sessions.sql). */
export const SESSION_STATES = [
  'waiting_for_stable',
  'ready_to_upload',
  'uploading',
  'uploaded',
  'processed',
  'failed',
  'needs_attention',
  // An operator's decision that a session will never be uploaded (its folder is gone).
  'dismissed',
] as const;

export type SessionStatus = (typeof SESSION_STATES)[number];

/** States whose folder is still on the share and whose row is still in play. */
export const ACTIVE_STATES: readonly SessionStatus[] = SESSION_STATES.filter((s) => s !== 'processed' && s !== 'dismissed');
