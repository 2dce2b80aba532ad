import { abortableDelay } from '../clock.js';
import type { Logger } from '../logging/logger.js';
import { backoffSeconds } from '../pipeline/backoff.js';
import type { Db } from '../state/db.js';
import { CliExit } from './exit-codes.js';

/** How `run` rides out a dependency that is down at start. */
export interface DependencyWait {
  /** Aborts the wait (SIGTERM): the command then ends with the last problem. */
  signal: AbortSignal;
  /** Why the agent cannot work yet, or null once it can: /health's reason meanwhile. */
  report(problem: string | null): void;
}

/** Waits between tries: 1 s doubling to 30 s, so a database back from a failover is used within 30 s. */
const FIRST_SECONDS = 1;
const MAX_SECONDS = 30;

/**
 * Opens the state database, trying again with backoff while it is unreachable (a VPN not up
 * yet, a failover). What waiting cannot fix (a locked embedded database, a failed migration)
 * ends the command at once.
 */
export async function openWhenReachable(open: () => Promise<Db>, wait: DependencyWait, log: Logger): Promise<Db> {
  for (let attempt = 1; ; attempt++) {
    try {
      const db = await open();
      if (attempt > 1)
        log.info(
          { event: 'dependency_available', dependency: 'database', from: 'unavailable', to: 'available', attempts: attempt },
          'state database reachable; starting',
        );
      wait.report(null);
      return db;
    } catch (err) {
      if (!(err instanceof CliExit) || !err.waitable || wait.signal.aborted) throw err;
      const delay = backoffSeconds(attempt, FIRST_SECONDS, MAX_SECONDS);
      log.error(
        { event: 'dependency_unavailable', dependency: 'database', attempt, retry_in_seconds: delay, err: { message: err.message } },
        'state database unavailable at start; waiting for it',
      );
      wait.report(`starting: ${err.message}; next try in ${delay}s`);
      await abortableDelay(delay * 1000, wait.signal).catch(() => {
        throw err;
      });
    }
  }
}
