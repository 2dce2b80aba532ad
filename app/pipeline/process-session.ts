import type { Deps } from '../deps.js';
import { LeaseLostError, SessionChangedError, classifyError, redactSecrets, sessionProblem } from '../errors.js';
import { releaseLease, renewLease } from '../state/queries/lease.js';
import { recordObservation } from '../state/queries/record-observation.js';
import { readSessionStatus } from '../state/queries/session-status.js';
import { sessionClaim, transitionSession, type SessionClaim } from '../state/queries/transition-session.js';
import type { SessionRow } from '../state/session-row.js';
import type { SessionStatus } from '../state/states.js';
import { nextAfterFailure } from './backoff.js';
import { judgeListing } from './completion-detector.js';
import { ignoreMatcher } from '../share/ignore-patterns.js';
import { moveUploadedSession } from './move-to-processed.js';
import { listSessionFiles, type SessionListing } from '../share/session-listing.js';
import { pathExists } from '../share/share.js';
import { uploadStableSession } from './upload-session.js';

export interface SessionOutcome {
  pk: number;
  status: SessionStatus;
  /** This attempt failed (the session is now failed or needs_attention). */
  failed: boolean;
  /** Waiting only on the stability window: another observation in this many seconds could complete it. */
  recheckAfterSeconds?: number;
}

interface Progress {
  /** Where the session is now: failures are recorded from the state it had reached. */
  row: SessionRow;
  /** Its session_id once this attempt resolved it (the row gets it when the upload starts). */
  sessionId?: string;
  recheckAfterSeconds?: number;
}

/**
 * Takes one claimed session as far as it can go this cycle. Whatever happens, the claim is
 * released at the end, even when recording the result fails.
 */
export async function processSession(agentDeps: Deps, claimed: SessionRow, signal: AbortSignal): Promise<SessionOutcome> {
  // Every line about this session carries its folder, and its id once known.
  const deps = {
    ...agentDeps,
    logger: agentDeps.logger.child({ session_pk: claimed.pk, folder: claimed.folderPath, ...(claimed.sessionId ? { session_id: claimed.sessionId } : {}) }),
  };
  const claim = sessionClaim(deps, claimed);
  const lost = new AbortController();
  const heartbeat = startHeartbeat(deps, claim, lost);
  const sessionSignal = AbortSignal.any([signal, lost.signal]);
  const progress: Progress = { row: claimed };
  try {
    const status = await advance(deps, progress, claim, sessionSignal);
    // needs_attention without an error: the folder changed after its upload (see move-to-processed).
    return {
      pk: claimed.pk,
      status,
      failed: status === 'needs_attention',
      ...(progress.recheckAfterSeconds !== undefined ? { recheckAfterSeconds: progress.recheckAfterSeconds } : {}),
    };
  } catch (err) {
    return await recordFailure(deps, progress, claim, err, signal, lost.signal);
  } finally {
    clearInterval(heartbeat);
    await releaseLease(deps.db, claim.pk, claim.leaseToken).catch((err: unknown) =>
      deps.logger.warn({ event: 'lease_release_failed', err }, 'could not release the claim; it expires by itself'),
    );
  }
}

async function advance(deps: Deps, progress: Progress, claim: SessionClaim, signal: AbortSignal): Promise<SessionStatus> {
  const { config } = deps;
  const row = progress.row;
  if (row.status === 'uploaded') return (await moveUploadedSession(deps, row, claim, true, signal)).status;
  if (!(await pathExists(deps.share, row.folderPath, signal))) {
    throw sessionProblem(
      'FOLDER_MISSING',
      `session folder ${row.folderPath} no longer exists (moved or deleted before its upload completed); no _COMPLETE was written for it`,
    );
  }
  let judged: SessionListing | undefined;
  if (row.status === 'waiting_for_stable') {
    const observed = await observe(deps, row, claim, signal);
    if ('recheckAfterSeconds' in observed) {
      if (observed.recheckAfterSeconds !== null) progress.recheckAfterSeconds = observed.recheckAfterSeconds;
      return 'waiting_for_stable';
    }
    progress.row = observed.ready;
    judged = observed.listing;
  }
  const started = Date.now();
  progress.row = await uploadStableSession(deps, progress.row, claim, signal, judged, (id) => (progress.sessionId = id));
  const seconds = (Date.now() - started) / 1000;
  deps.metrics.uploadDuration.observe(seconds);
  if (progress.row.totalBytes !== null && seconds > 0) deps.metrics.uploadThroughput.observe(progress.row.totalBytes / seconds);
  if (!config.agent.move_after_upload) return progress.row.status;
  // No second listing: the upload listed the folder after its last byte, moments ago.
  return (await moveUploadedSession(deps, progress.row, claim, false, signal)).status;
}

/** One observation of a waiting folder: the session when it is now ready to upload, else when to look again. */
async function observe(
  deps: Deps,
  row: SessionRow,
  claim: SessionClaim,
  signal: AbortSignal,
): Promise<{ ready: SessionRow; listing: SessionListing } | { recheckAfterSeconds: number | null }> {
  const { db, config, clock, logger } = deps;
  const profile = config.profiles[row.profile];
  if (!profile) throw sessionProblem('UNKNOWN_PROFILE', `profile "${row.profile}" is no longer in the configuration`);
  const listing = await listSessionFiles(deps.share, row.folderPath, ignoreMatcher(profile.ignore_patterns), signal);
  const now = clock.now();
  const decision = judgeListing(listing.files, profile.required_markers, row, now, config.agent.stable_window_seconds);
  const state = decision.state;
  if (!decision.complete) {
    await recordObservation(db, { pk: claim.pk, leaseToken: claim.leaseToken, state, since: decision.since, now, waitingReason: decision.reason });
    logger.info({ event: 'session_waiting', files: listing.files.length, reason: decision.reason }, 'session not complete yet');
    return { recheckAfterSeconds: decision.recheckAfterSeconds };
  }
  const { row: ready, from } = await transitionSession(db, claim, 'markStable', {
    reason: `stable since ${decision.since.toISOString()}`,
    error: null,
  });
  logger.info(
    { event: 'session_stable', from, to: ready.status, files: listing.files.length, stable_since: decision.since.toISOString() },
    'session complete and stable',
  );
  return { ready, listing };
}

async function recordFailure(
  deps: Deps,
  { row, sessionId }: Progress,
  claim: SessionClaim,
  err: unknown,
  shutdown: AbortSignal,
  lost: AbortSignal,
): Promise<SessionOutcome> {
  const { db, clock, logger, config, metrics } = deps;
  const e = classifyError(err);
  // The id resolved by this attempt, when the row does not have it yet (the logger has the rest).
  const ctx = sessionId && !row.sessionId ? { session_id: sessionId } : {};
  if (lost.aborted || e instanceof LeaseLostError) {
    logger.warn({ event: 'lease_lost', ...ctx, err: e }, 'another agent took this session over; stopped working on it');
    return { pk: row.pk, status: row.status, failed: false };
  }
  if (shutdown.aborted) return await recordInterrupted(deps, row, ctx);
  const error = { code: e.code, message: redactSecrets(e.message) };
  // Listing the folder failed while waiting: keep waiting unless a person must act.
  const waiting = row.status === 'waiting_for_stable';
  if (e instanceof SessionChangedError || (waiting && e.retryable)) {
    const { from, row: deferred } = await transitionSession(db, claim, 'deferToWaiting', { reason: error.message, error });
    logger.warn({ event: 'session_changed', ...ctx, from, to: deferred.status, err: e }, 'session is not stable after all; waiting again');
    return { pk: row.pk, status: deferred.status, failed: false };
  }
  metrics.errors.inc({ kind: e.kind });
  if (await deps.s3Access.stopsUploads(e, shutdown)) return await recordPaused(deps, row, claim, ctx);
  // Stopping while the gate looked at S3: nothing was learnt, so nothing is counted.
  if (shutdown.aborted) return await recordInterrupted(deps, row, ctx);
  metrics.sessionFailures.inc({ code: e.code });
  if (row.status === 'uploaded') {
    const { from, row: uploaded } = await transitionSession(db, claim, 'recordMoveFailure', { reason: `move failed: ${error.message}`, error });
    logger.error({ event: 'session_move_failed', ...ctx, from, to: uploaded.status, err: e }, 'upload is complete but the move failed; retrying next cycle');
    return { pk: row.pk, status: uploaded.status, failed: true };
  }
  const attempts = row.attempts + 1;
  const outcome = nextAfterFailure({
    attempts,
    maxRetries: config.upload.max_retries,
    retryable: e.retryable,
    now: clock.now(),
    initialBackoffSeconds: config.upload.initial_backoff_seconds,
    maxBackoffSeconds: config.upload.max_backoff_seconds,
  });
  const { from } = await transitionSession(db, claim, outcome.status === 'failed' ? 'failAttempt' : 'needsAttention', {
    reason: error.message,
    error,
    countAttempt: true,
    nextAttemptAt: outcome.status === 'failed' ? outcome.retryAt : null,
  });
  logger.error(
    {
      event: 'session_failed',
      ...ctx,
      from,
      to: outcome.status,
      attempt: attempts,
      max_retries: config.upload.max_retries,
      retry_at: outcome.status === 'failed' ? outcome.retryAt.toISOString() : null,
      err: e,
    },
    outcome.status === 'failed' ? 'session failed; will retry' : 'session needs attention',
  );
  return { pk: row.pk, status: outcome.status, failed: true };
}

async function recordInterrupted(deps: Deps, row: SessionRow, ctx: Record<string, unknown>): Promise<SessionOutcome> {
  // The row in hand may predate the upload's own transition to uploading: ask the database.
  const status = await readSessionStatus(deps.db, row.pk).catch(() => row.status);
  deps.logger.info({ event: 'session_interrupted', ...ctx, status }, 'stopping: the session resumes from here on the next start');
  return { pk: row.pk, status: row.status, failed: false };
}

/** S3 refuses the agent itself or cannot be reached: the attempt is not counted, and the session goes when uploads resume. */
async function recordPaused(deps: Deps, row: SessionRow, claim: SessionClaim, ctx: Record<string, unknown>): Promise<SessionOutcome> {
  const cause = deps.s3Access.cause();
  const error = {
    code: cause?.code ?? 'S3_ACCESS',
    message: `${redactSecrets(cause?.message ?? 'S3 refuses this agent')} (uploads paused; not counted against this session's retries)`,
  };
  const { from, row: paused } = await transitionSession(deps.db, claim, 'pauseUploads', {
    reason: error.message,
    error,
    nextAttemptAt: null,
  });
  deps.logger.warn(
    { event: 'session_upload_paused', ...ctx, from, to: paused.status, attempt: row.attempts, err: cause },
    'uploads paused (S3 refuses this agent or cannot be reached); the session is uploaded once S3 answers again',
  );
  return { pk: row.pk, status: paused.status, failed: true };
}

function startHeartbeat(deps: Deps, { pk, leaseToken }: SessionClaim, lost: AbortController): NodeJS.Timeout {
  const seconds = deps.config.agent.lease_seconds;
  const timer = setInterval(
    () => {
      const expires = new Date(deps.clock.now().getTime() + seconds * 1000);
      renewLease(deps.db, pk, leaseToken, expires).then(
        (held) => {
          if (!held) lost.abort(new LeaseLostError(pk));
        },
        (err: unknown) => deps.logger.warn({ event: 'lease_renew_failed', err }, 'could not renew the claim; retrying'),
      );
    },
    (seconds * 1000) / 3,
  );
  timer.unref();
  return timer;
}
