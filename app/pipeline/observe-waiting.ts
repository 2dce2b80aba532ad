import { randomUUID } from 'node:crypto';
import { eachConcurrently } from '../each-concurrently.js';
import type { Deps } from '../deps.js';
import { claimWaitingBatch, recordObservationsAndRelease } from '../state/queries/observe-batch.js';
import { judgeListing } from './completion-detector.js';
import { ignoreMatcher } from '../share/ignore-patterns.js';
import type { SessionOutcome } from './process-session.js';
import { listSessionFiles } from '../share/session-listing.js';

const BATCH = 100;
const LIST_CONCURRENCY = 8;

/**
 * Observes the waiting sessions in batches: one statement claims up to 100, their folders are
 * listed (metadata only), one statement records every observation that leaves a session
 * waiting and releases every claim. Two round trips per 100 idle sessions instead of three
 * per session. A session that turns out ready (or whose listing fails, or whose profile is
 * gone) is only released: the one-at-a-time path claims it next, observes it again and takes
 * it as far as it goes, exactly as before. Returns the pks observed and still waiting (the
 * caller skips them this cycle), as outcomes.
 */
export async function observeWaitingSessions(deps: Deps, roots: string[], signal: AbortSignal): Promise<SessionOutcome[]> {
  const { db, config, clock, logger, agentId } = deps;
  const outcomes: SessionOutcome[] = [];
  const seen: number[] = [];
  while (!signal.aborted && roots.length > 0) {
    const batch = await claimWaitingBatch(db, {
      roots,
      agentId,
      leaseTokens: Array.from({ length: BATCH }, () => randomUUID()),
      leaseSeconds: config.agent.lease_seconds,
      now: clock.now(),
      skip: seen,
    });
    if (batch.length === 0) break;
    const observed: Parameters<typeof recordObservationsAndRelease>[1]['observed'] = [];
    const releaseOnly: { pk: number; leaseToken: string }[] = [];
    const logs = new Map<number, () => void>();
    const rechecks = new Map<number, number>();
    await eachConcurrently(batch, LIST_CONCURRENCY, async (row) => {
      seen.push(row.pk);
      const token = row.leaseToken as string;
      const profile = config.profiles[row.profile];
      if (!profile || signal.aborted) {
        releaseOnly.push({ pk: row.pk, leaseToken: token });
        return;
      }
      const listing = await listSessionFiles(deps.share, row.folderPath, ignoreMatcher(profile.ignore_patterns), signal).catch(() => null);
      if (!listing) {
        releaseOnly.push({ pk: row.pk, leaseToken: token });
        return;
      }
      const decision = judgeListing(listing.files, profile.required_markers, row, clock.now(), config.agent.stable_window_seconds);
      const state = decision.state;
      if (decision.complete) {
        releaseOnly.push({ pk: row.pk, leaseToken: token });
        return;
      }
      observed.push({ pk: row.pk, leaseToken: token, state, since: decision.since, waitingReason: decision.reason });
      if (decision.recheckAfterSeconds !== null) rechecks.set(row.pk, decision.recheckAfterSeconds);
      logs.set(row.pk, () =>
        logger.info(
          {
            event: 'session_waiting',
            session_pk: row.pk,
            folder: row.folderPath,
            ...(row.sessionId ? { session_id: row.sessionId } : {}),
            files: listing.files.length,
            reason: decision.reason,
          },
          'session not complete yet',
        ),
      );
    });
    const recorded = await recordObservationsAndRelease(db, { observed, releaseOnly, now: clock.now() });
    for (const pk of recorded) {
      logs.get(pk)?.();
      const r = rechecks.get(pk);
      outcomes.push({ pk, status: 'waiting_for_stable', failed: false, ...(r !== undefined ? { recheckAfterSeconds: r } : {}) });
    }
  }
  return outcomes;
}
