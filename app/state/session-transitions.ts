import type { SessionStatus } from './states.js';

type Rule = { from: readonly SessionStatus[]; to: SessionStatus; by: 'agent' | 'operator' };

/**
 * Every change of a session's status, by name: the only place transitions are defined. The
 * statements in queries/transition-session.ts and queries/operator-transitions.ts take their
 * guard (`status = ANY(from)`) and their target from here, and tests/unit/states.test.ts fails
 * when any other code writes a status or when README's diagram shows other edges.
 */
export const TRANSITIONS = {
  markStable: { from: ['waiting_for_stable'], to: 'ready_to_upload', by: 'agent' },
  // From failed: the retry after a backoff; from uploading: an upload interrupted by a restart.
  startUpload: { from: ['ready_to_upload', 'failed', 'uploading'], to: 'uploading', by: 'agent' },
  markUploaded: { from: ['uploading'], to: 'uploaded', by: 'agent' },
  // An identical session (same session_id and manifest) is already in S3: nothing is uploaded.
  markDuplicate: { from: ['ready_to_upload', 'failed', 'uploading'], to: 'uploaded', by: 'agent' },
  // The move's target is recorded before the rename, so a crash mid-move is finished, not guessed at.
  planMove: { from: ['uploaded'], to: 'uploaded', by: 'agent' },
  recordMoveFailure: { from: ['uploaded'], to: 'uploaded', by: 'agent' },
  markProcessed: { from: ['uploaded'], to: 'processed', by: 'agent' },
  holdChangedAfterUpload: { from: ['uploaded'], to: 'needs_attention', by: 'agent' },
  // The folder changed (or could not be listed while waiting): the stability window starts again.
  deferToWaiting: { from: ['waiting_for_stable', 'ready_to_upload', 'uploading', 'failed'], to: 'waiting_for_stable', by: 'agent' },
  failAttempt: { from: ['waiting_for_stable', 'ready_to_upload', 'uploading', 'failed'], to: 'failed', by: 'agent' },
  needsAttention: { from: ['waiting_for_stable', 'ready_to_upload', 'uploading', 'failed'], to: 'needs_attention', by: 'agent' },
  // S3 refuses the agent itself: not counted against the session's retries.
  pauseUploads: { from: ['ready_to_upload', 'uploading', 'failed'], to: 'failed', by: 'agent' },
  retry: { from: ['failed', 'needs_attention'], to: 'waiting_for_stable', by: 'operator' },
  dismiss: { from: ['failed', 'needs_attention'], to: 'dismissed', by: 'operator' },
} as const satisfies Record<string, Rule>;

export type TransitionName = keyof typeof TRANSITIONS;
export type AgentTransition = { [K in TransitionName]: (typeof TRANSITIONS)[K]['by'] extends 'agent' ? K : never }[TransitionName];

/** The (from, to) pairs the table allows, each once, in table order. */
export function transitionEdges(): [SessionStatus, SessionStatus][] {
  const edges = new Map<string, [SessionStatus, SessionStatus]>();
  for (const rule of Object.values(TRANSITIONS) as Rule[]) {
    for (const from of rule.from) edges.set(`${from}>${rule.to}`, [from, rule.to]);
  }
  return [...edges.values()];
}

/** Whether the named transition may start from `status`. */
export function startsFrom(name: TransitionName, status: SessionStatus): boolean {
  return (TRANSITIONS[name].from as readonly SessionStatus[]).includes(status);
}

export function canTransition(from: SessionStatus, to: SessionStatus): boolean {
  return (Object.values(TRANSITIONS) as Rule[]).some((rule) => rule.to === to && rule.from.includes(from));
}
