import { randomUUID } from 'node:crypto';
import { abortableDelay } from './clock.js';
import { publishBacklogEvery } from './health/backlog-metric.js';
import type { Deps } from './deps.js';
import { classifyError } from './errors.js';
import { processSession, type SessionOutcome } from './pipeline/process-session.js';
import { scanRoots } from './share/scanner.js';
import { observeWaitingSessions } from './pipeline/observe-waiting.js';
import { settleHeldLeases } from './pipeline/held-sessions.js';
import { claimNextSession } from './state/queries/claim-next-session.js';
import { forgetVanished, recordDiscovered } from './state/queries/record-discovered.js';
import { pathExists } from './share/share.js';

export interface CycleReport {
  discovered: number;
  outcomes: SessionOutcome[];
  rootErrors: { root: string; code: string; message: string }[];
  /** Sessions whose attempt failed in this cycle (scan-once exits 1 when there are any). */
  failed: number;
  /** The soonest a waiting session could complete on another look (seconds), if any. */
  recheckAfterSeconds: number | null;
}

/**
 * One full cycle: scan every root, record new folders, then take each session with work due
 * (one claim at a time per worker, so other agents can take the rest) and move it as far as
 * it goes.
 */
export async function runCycle(deps: Deps, signal: AbortSignal): Promise<CycleReport> {
  const { db, config, clock, logger, agentId, metrics } = deps;
  const stopTimer = metrics.cycleDuration.startTimer();
  // Unreadable now: the last reading still holds, and the cycle reports the database itself.
  await clock.realign?.().catch(() => null);
  const scan = await scanRoots(deps.share, config.watch.session_roots, signal);
  for (const e of scan.rootErrors) {
    logger.error({ event: 'root_unavailable', root: e.root, err: { code: e.code, message: e.message } }, 'session root cannot be listed; skipped this cycle');
  }
  for (const f of scan.unusableFolders) {
    logger.warn(
      { event: 'session_folder_unusable', root: f.root, folder: f.name, reason: f.reason },
      'a session folder cannot be uploaded until it is renamed',
    );
  }
  const created = [];
  for (const s of await recordDiscovered(db, scan.folders, agentId, clock.now())) {
    if (!(await pathExists(deps.share, s.folderPath, signal)) && (await forgetVanished(db, s.pk))) continue;
    created.push(s);
    logger.info({ event: 'session_discovered', session_pk: s.pk, folder: s.folderPath, from: null, to: 'waiting_for_stable' }, 'new session folder');
  }

  // Idle waiting sessions are observed in batches; the rest are claimed one at a time by each
  // of `parallel_sessions` workers, so a small session need not wait out a large upload.
  const outcomes: SessionOutcome[] = await observeWaitingSessions(deps, scan.readableRoots, signal);
  const handled: number[] = outcomes.map((o) => o.pk);
  await settleHeldLeases(deps, scan.readableRoots);
  // A worker that cannot reach the database stops the others from claiming more; the cycle
  // ends only when every worker has finished the session it holds.
  let stopClaiming = false;
  const worker = async () => {
    while (!signal.aborted && !stopClaiming && scan.readableRoots.length > 0) {
      // While S3 refuses the agent, sessions stay where they are instead of each failing on it.
      if (!(await deps.s3Access.open(signal))) break;
      const claimed = await claimNextSession(db, {
        roots: scan.readableRoots,
        agentId,
        leaseToken: randomUUID(),
        leaseSeconds: config.agent.lease_seconds,
        now: clock.now(),
        includeUploaded: config.agent.move_after_upload,
        skip: handled,
      }).catch((err: unknown) => {
        stopClaiming = true;
        throw err;
      });
      if (!claimed) break;
      handled.push(claimed.pk);
      try {
        outcomes.push(await processSession(deps, claimed, signal));
      } catch (err) {
        // Recording the outcome failed (the DB went away): this session's claim expires and it
        // is picked up again; the others still get their turn.
        logger.error(
          {
            event: 'session_state_unrecorded',
            session_pk: claimed.pk,
            folder: claimed.folderPath,
            ...(claimed.sessionId ? { session_id: claimed.sessionId } : {}),
            err,
          },
          'could not record the session outcome',
        );
        outcomes.push({ pk: claimed.pk, status: claimed.status, failed: true });
        if (classifyError(err).kind === 'db') stopClaiming = true;
      }
    }
  };
  const finished = await Promise.allSettled(Array.from({ length: config.upload.parallel_sessions }, worker));
  const failure = finished.find((r) => r.status === 'rejected');
  if (failure) throw failure.reason;
  stopTimer();
  metrics.lastCycleEnd.setToCurrentTime();
  return {
    discovered: created.length,
    outcomes,
    rootErrors: scan.rootErrors,
    failed: outcomes.filter((o) => o.failed).length + scan.rootErrors.length,
    recheckAfterSeconds: soonest(outcomes.map((o) => o.recheckAfterSeconds)),
  };
}

function soonest(values: (number | undefined)[]): number | null {
  const defined = values.filter((v): v is number => v !== undefined);
  return defined.length > 0 ? Math.min(...defined) : null;
}

/**
 * Seconds until the next cycle: the scan interval, or sooner when a waiting session's window
 * ends before it (never less than a second, so window 0 takes two distinct observations).
 */
export function nextCycleDelaySeconds(intervalSeconds: number, recheckAfterSeconds: number | null): number {
  if (recheckAfterSeconds === null) return intervalSeconds;
  return Math.min(intervalSeconds, Math.max(1, Math.ceil(recheckAfterSeconds)));
}

export interface Loop {
  /** Resolves when the loop has stopped. */
  done: Promise<void>;
  /** Stops taking new work and aborts what is in flight; safe to call more than once. */
  stop(): void;
  /** Starts the next cycle now (or right after the running one) instead of waiting out the interval. */
  wake(): void;
  lastCycleEndedAt(): Date | null;
}

/** Cycles every `scan_interval_seconds` until stopped. A failed cycle is logged, never fatal. */
export function startLoop(deps: Deps): Loop {
  const controller = new AbortController();
  publishBacklogEvery(deps, controller.signal);
  let lastEnded: Date | null = null;
  let woken = new AbortController();
  const done = (async () => {
    while (!controller.signal.aborted) {
      let delay = deps.config.agent.scan_interval_seconds;
      woken = new AbortController();
      try {
        const report = await runCycle(deps, controller.signal);
        lastEnded = new Date();
        delay = nextCycleDelaySeconds(delay, report.recheckAfterSeconds);
        deps.logger.info(
          { event: 'cycle_completed', discovered: report.discovered, sessions: report.outcomes.length, failed: report.failed, next_cycle_seconds: delay },
          'scan cycle completed',
        );
      } catch (err) {
        if (controller.signal.aborted) break;
        deps.logger.error({ event: 'cycle_failed', err }, 'scan cycle failed; trying again next interval');
        deps.metrics.errors.inc({ kind: classifyError(err).kind });
      }
      try {
        await abortableDelay(delay * 1000, AbortSignal.any([controller.signal, woken.signal]));
      } catch {
        if (controller.signal.aborted) break;
      }
    }
  })();
  return {
    done,
    stop() {
      if (!controller.signal.aborted) controller.abort(new DOMException('agent stopping', 'AbortError'));
    },
    wake() {
      woken.abort();
    },
    lastCycleEndedAt: () => lastEnded,
  };
}
