import type { SessionIdOwner } from '../state/queries/claim-session-id.js';
import { agentHost } from '../state/lease-holder.js';
import type { SessionRow } from '../state/session-row.js';
import type { CompletionDecision } from './completion-detector.js';
import { ownerDecision } from './preflight.js';

/**
 * What is known about a folder so far. The facts that cost a look at the share, the database
 * or S3 are filled in one at a time, as `nextStep` asks for them.
 */
export interface FolderFacts {
  now: Date;
  folderPath: string;
  /** Its row; null when no cycle has recorded the folder yet. */
  row: SessionRow | null;
  /** Its root is one the configuration watches (the cycle claims only those). */
  rootWatched: boolean;
  moveAfterUpload: boolean;
  /** Why the live lease's holder is provably gone (the cycle takes the lease over), or null when it may still be working. */
  holderGone?: string | null;
  /** The folder is still where the row says. */
  folderExists?: boolean;
  /** The completion detector's verdict on the folder as listed now. */
  completion?: CompletionDecision;
  /** The preflight's session_id, or the session problem it found. */
  preflight?: { sessionId: string } | { problem: string };
  /** The session_id's recorded owner (null: nobody has it yet). */
  owner?: SessionIdOwner | null;
  /** A `_COMPLETE` already under the session_id (its key), none, or not asked (no S3 at hand). */
  marker?: { key: string } | 'absent' | 'not_asked';
  /** Where the move would put the folder. */
  moveTo?: string;
}

export type FactName = 'holderGone' | 'folderExists' | 'completion' | 'preflight' | 'owner' | 'marker' | 'moveTo';

export interface Verdict {
  action: 'upload' | 'wait' | 'move' | 'needs_attention' | 'retry_later' | 'skip' | 'none';
  /** What will happen and why, in an operator's words. */
  reason: string;
  sessionId?: string;
  moveTo?: string;
  /** The lease holder is gone: the cycle takes the session over first. */
  takeOver?: string;
}

/**
 * What the next cycle will do with this folder, decided the way the cycle decides: a lease,
 * the row's state, the completion detector, the preflight, the session_id's owner, a
 * `_COMPLETE` already in S3, the move. Either the verdict, or the next fact it needs.
 */
export function nextStep(f: FolderFacts): Verdict | { need: FactName } {
  const row = f.row;
  if (row?.status === 'processed') return { action: 'none', reason: `done: moved to ${row.processedPath ?? 'processed/'}` };
  if (row?.status === 'dismissed') return { action: 'none', reason: `dismissed by ${row.dismissedBy ?? '?'}: ${row.dismissedReason ?? ''}; never uploaded` };
  if (row && !f.rootWatched) return { action: 'none', reason: `its root ${row.rootPath} is not in the configuration: no cycle looks at it` };
  let takeOver: { takeOver: string } | Record<string, never> = {};
  if (row?.leaseOwner && row.leaseExpiresAt && row.leaseExpiresAt >= f.now) {
    if (f.holderGone === undefined) return { need: 'holderGone' };
    if (f.holderGone === null) return { action: 'skip', reason: `leased by ${holderText(row.leaseOwner)} until ${row.leaseExpiresAt.toISOString()}` };
    takeOver = { takeOver: f.holderGone };
  }
  if (row?.status === 'needs_attention')
    return { action: 'none', reason: `needs attention: ${row.lastError ?? 'see its history'}; \`retry\` to try again`, ...takeOver };
  if (row?.status === 'uploaded') {
    if (!f.moveAfterUpload) return { action: 'none', reason: 'done: uploaded (move_after_upload is off)', ...takeOver };
    if (f.moveTo === undefined) return { need: 'moveTo' };
    const lastTry = row.lastError ? ` (last try: ${row.lastError})` : '';
    return { action: 'move', reason: `uploaded: will move to ${f.moveTo} on the next cycle${lastTry}`, moveTo: f.moveTo, ...takeOver };
  }
  if (row?.status === 'failed' && row.nextAttemptAt && row.nextAttemptAt > f.now) {
    return { action: 'retry_later', reason: `failed: will retry at ${row.nextAttemptAt.toISOString()}: ${row.lastError ?? ''}`, ...takeOver };
  }
  if (row) {
    if (f.folderExists === undefined) return { need: 'folderExists' };
    if (!f.folderExists)
      return {
        action: 'needs_attention',
        reason: `will need attention: session folder ${row.folderPath} no longer exists (moved or deleted before it was uploaded)`,
        ...takeOver,
      };
  }
  if (!row || row.status === 'waiting_for_stable') {
    if (f.completion === undefined) return { need: 'completion' };
    if (!f.completion.complete) return { action: 'wait', reason: waitingText(f.completion, row), ...takeOver };
  }
  if (f.preflight === undefined) return { need: 'preflight' };
  if ('problem' in f.preflight) return { action: 'needs_attention', reason: `will need attention: ${f.preflight.problem}`, ...takeOver };
  const sessionId = f.preflight.sessionId;
  if (f.owner === undefined) return { need: 'owner' };
  const decision = ownerDecision(row?.pk ?? null, f.folderPath, sessionId, f.owner);
  if (decision.go === 'collision') return { action: 'needs_attention', reason: `will need attention: ${decision.message}`, sessionId, ...takeOver };
  if (f.moveAfterUpload && f.moveTo === undefined) return { need: 'moveTo' };
  const moveTo = f.moveTo === undefined ? {} : { moveTo: f.moveTo };
  if (decision.go === 'duplicate_if_identical') {
    const reason = `twin of folder ${decision.of} (session_id ${sessionId}, already uploaded): will not upload if the manifest is identical, else needs attention`;
    return { action: 'move', reason, sessionId, ...moveTo, ...takeOver };
  }
  if (f.marker === undefined) return { need: 'marker' };
  if (typeof f.marker === 'object') {
    const reason = `${f.marker.key} is already in S3: will not upload again if its manifest is this folder's, else needs attention`;
    return { action: 'move', reason, sessionId, ...moveTo, ...takeOver };
  }
  return { action: 'upload', reason: 'complete and stable: will upload on the next cycle', sessionId, ...moveTo, ...takeOver };
}

/** `agent HOST pid N` for an agent's id, else the id as recorded. */
function holderText(holder: string): string {
  const h = agentHost(holder);
  return h ? `agent ${h.host} pid ${h.pid}` : holder;
}

function waitingText(c: CompletionDecision, row: SessionRow | null): string {
  if (c.recheckAfterSeconds === null) return c.reason.startsWith('waiting') ? c.reason : `waiting: ${c.reason}`;
  const seconds = Math.ceil(c.recheckAfterSeconds);
  // A folder not recorded yet gets its first observation from the next cycle: its window starts then.
  if (!row)
    return `waiting: new folder: the next cycle records it, and ${seconds > 0 ? `a cycle ${seconds} s or more after that` : 'the one after'} can upload it if nothing changes`;
  return `waiting: ${c.reason}; stable in ${seconds} s if nothing changes`;
}
