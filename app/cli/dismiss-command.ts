import { hostname, userInfo } from 'node:os';
import { createLogger } from '../logging/logger.js';
import { pathExists } from '../share/share.js';
import { readDatabaseClock } from '../state/queries/database-clock.js';
import { findSessions } from '../state/queries/operator.js';
import { dismissSession } from '../state/queries/operator-transitions.js';
import { TRANSITIONS, startsFrom } from '../state/session-transitions.js';
import { CliExit, EXIT } from './exit-codes.js';
import { openStateDb, readConfig, shareFor } from './runtime.js';

/** Who ran an operator command: recorded with what it did. */
export function operatorName(): string {
  return `${userInfo().username}@${hostname()}`;
}

/**
 * Dismisses a failed or needs_attention session whose folder is gone, for good: it leaves the
 * needs_attention count (and its alert), and status shows it as dismissed, by whom and why.
 */
export async function dismiss(configFile: string, ref: string, reason: string): Promise<number> {
  if (reason.trim() === '') throw new CliExit(EXIT.usage, '--reason must say why the session is dismissed');
  const config = await readConfig(configFile);
  const share = shareFor(config);
  const { logger, flush } = createLogger({ stream: 'stderr', logDir: config.storage.log_dir });
  const db = await openStateDb(config, process.env, logger, { migrate: true, shareWithRunningAgent: true });
  try {
    const found = await findSessions(db, ref);
    if (found.length === 0) throw new CliExit(EXIT.usage, `no session matches ${ref}`);
    const targets = found.filter((s) => startsFrom('dismiss', s.status));
    if (targets.length === 0)
      throw new CliExit(
        EXIT.sessionFailed,
        `${ref} is not failed or needs_attention (${found.map((s) => `row ${s.pk}: ${s.status}`).join(', ')}); only those can be dismissed`,
      );
    if (targets.length > 1)
      throw new CliExit(EXIT.usage, `${ref} matches several sessions (rows ${targets.map((s) => s.pk).join(', ')}): name one by its row number`);
    const target = targets[0] as (typeof targets)[number];
    const name = `${target.sessionId ?? target.folderName} (row ${target.pk})`;
    // A folder still in the root would come back as a new session at the next scan.
    if (await pathExists(share, target.folderPath, new AbortController().signal)) {
      throw new CliExit(
        EXIT.sessionFailed,
        `session ${name}: its folder ${target.folderPath} still exists; fix it and retry, or move it out of the root first, then dismiss`,
      );
    }
    const who = operatorName();
    const from = await dismissSession(db, target.pk, { who, reason, now: await readDatabaseClock(db) });
    if (!from) throw new CliExit(EXIT.sessionFailed, `session ${name} is being worked on by an agent right now; try again shortly`);
    logger.info(
      {
        event: 'session_dismissed',
        session_pk: target.pk,
        session_id: target.sessionId,
        folder: target.folderPath,
        from,
        to: TRANSITIONS.dismiss.to,
        by: who,
        reason,
      },
      'session dismissed',
    );
    process.stdout.write(`session ${name}: ${from} → ${TRANSITIONS.dismiss.to} (by ${who}: ${reason})\n`);
    return EXIT.ok;
  } finally {
    await db.close();
    flush();
  }
}
