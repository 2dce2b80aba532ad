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

const ALLOWED: Record<SessionStatus, readonly SessionStatus[]> = {
  waiting_for_stable: ['ready_to_upload', 'needs_attention', 'failed'],
  ready_to_upload: ['uploading', 'waiting_for_stable', 'needs_attention', 'failed', 'processed'],
  uploading: ['uploaded', 'waiting_for_stable', 'failed', 'needs_attention'],
  // uploaded → uploaded records a planned or failed move.
  uploaded: ['processed', 'uploaded', 'needs_attention'],
  processed: [],
  failed: ['ready_to_upload', 'uploading', 'waiting_for_stable', 'needs_attention', 'failed', 'dismissed'],
  needs_attention: ['waiting_for_stable', 'dismissed'],
  dismissed: [],
};

export function canTransition(from: SessionStatus, to: SessionStatus): boolean {
  return ALLOWED[from].includes(to);
}

/** States whose folder is still on the share and whose row is still in play. */
export const ACTIVE_STATES: readonly SessionStatus[] = SESSION_STATES.filter((s) => s !== 'processed' && s !== 'dismissed');
