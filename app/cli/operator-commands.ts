import { realpath, stat } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { readDatabaseClock } from '../state/queries/database-clock.js';
import { isNfsRoot } from '../config/root-path.js';
import type { AgentConfig, Profile } from '../config/schema.js';
import { classifyError } from '../errors.js';
import { createLogger } from '../logging/logger.js';
import { manifestHash, prettyManifest } from '../pipeline/manifest.js';
import { manifestForFolder } from '../pipeline/manifest-for-folder.js';
import { preflightWithProfile } from '../pipeline/preflight.js';
import { LocalShare } from '../share/local-share.js';
import { listFileRecords } from '../state/queries/file-records.js';
import { listEvents, listSessions, listSessionsInState } from '../state/queries/operator.js';
import { requeueSession } from '../state/queries/operator-transitions.js';
import { TRANSITIONS, startsFrom } from '../state/session-transitions.js';
import type { Db } from '../state/db.js';
import type { SessionRow } from '../state/session-row.js';
import type { SessionStatus } from '../state/states.js';
import { operatorName } from './dismiss-command.js';
import { CliExit, EXIT } from './exit-codes.js';
import { findSessionsByRef } from './find-session.js';
import { foreseeSessions } from './foresee-folder.js';
import { openStateDb, readConfig, shareFor } from './runtime.js';
import { formatHistory, formatTable, sessionJson } from './status-command.js';

export async function printManifest(sessionDir: string, configFile: string): Promise<number> {
  const config = await readConfig(configFile);
  // A folder given on the command line is a local one, whatever the configured roots are.
  const share = new LocalShare();
  const folder = await realpath(resolve(sessionDir)).catch(() => {
    throw new CliExit(EXIT.usage, `session folder ${sessionDir} does not exist`);
  });
  if (!(await stat(folder)).isDirectory()) throw new CliExit(EXIT.usage, `${sessionDir} is a file; --session takes a session folder`);
  const root = await rootOf(config, folder);
  const profile = (root ? config.profiles[root.profile] : undefined) ?? NO_PROFILE;
  const folderName = folder.slice(folder.lastIndexOf(sep) + 1);
  // The cycle's own preflight: a folder it would not upload gets no manifest either.
  // A one-shot command: Ctrl-C ends the process, nothing needs to be aborted.
  const signal = new AbortController().signal;
  const { listing, sessionId } = await preflightWithProfile(share, config.upload.s3_prefix, profile, { folderPath: folder, folderName }, signal).catch(
    (err: unknown) => {
      const e = classifyError(err);
      if (e.kind !== 'session') throw err;
      throw new CliExit(EXIT.sessionFailed, `${folder}: ${e.message}`);
    },
  );
  const manifest = await manifestForFolder(share, config, { sessionId, folderPath: folder, listing }, signal);
  process.stdout.write(prettyManifest(manifest));
  process.stderr.write(`manifest-sha256: ${manifestHash(manifest)}\n`);
  return EXIT.ok;
}

/** A folder in no configured root: no markers, nothing ignored, the session_id from the folder name. */
const NO_PROFILE: Profile = { required_markers: [], ignore_patterns: [], metadata_files: [] };

/** The root holding `folder`, a real path; roots come normalised from the config, only links are resolved here. */
async function rootOf(config: AgentConfig, folder: string) {
  for (const root of config.watch.session_roots) {
    if (isNfsRoot(root.path)) continue;
    const real = await realpath(root.path).catch(() => root.path);
    if (dirname(folder) === real || folder.startsWith(real + sep)) return root;
  }
  return undefined;
}

/** The sessions `ref` names; an `nfs://` root's connection is closed again before returning. */
async function findSessionsOnShares(db: Pick<Db, 'query'>, config: AgentConfig, ref: string): Promise<SessionRow[]> {
  const share = shareFor(config);
  try {
    return await findSessionsByRef(db, share, config, ref, new AbortController().signal);
  } finally {
    await share.close();
  }
}

/** The sessions, each with what the next cycle will do with it (nextStep, as the dry run decides). */
export async function status(configFile: string, ref: string | undefined, o: { json?: boolean; state?: SessionStatus[] }): Promise<number> {
  const config = await readConfig(configFile);
  const { logger, flush } = createLogger({ stream: 'stderr' });
  const db = await openStateDb(config, process.env, logger, { migrate: true, shareWithRunningAgent: true });
  const share = shareFor(config);
  // A one-shot command: Ctrl-C ends the process, nothing needs to be aborted.
  const signal = new AbortController().signal;
  try {
    const now = await readDatabaseClock(db);
    if (ref) {
      const found = await findSessionsByRef(db, share, config, ref, signal);
      if (found.length === 0) throw new CliExit(EXIT.usage, `no session matches ${ref}`);
      const next = await foreseeSessions({ config, db, share, now, signal }, found);
      const detailed = await Promise.all(found.map(async (s) => ({ s, events: await listEvents(db, s.pk), files: await listFileRecords(db, s.pk) })));
      process.stdout.write(
        o.json
          ? `${JSON.stringify(
              detailed.map(({ s, events, files }) => ({ ...sessionJson(s, next.get(s.pk)), history: events, file_records: files })),
              null,
              2,
            )}\n`
          : detailed.map(({ s, events, files }) => formatHistory(s, events, files, next.get(s.pk))).join('\n'),
      );
      return EXIT.ok;
    }
    const sessions = await listSessions(db, o.state);
    const next = await foreseeSessions({ config, db, share, now, signal }, sessions);
    if (o.json)
      process.stdout.write(
        `${JSON.stringify(
          sessions.map((s) => sessionJson(s, next.get(s.pk))),
          null,
          2,
        )}\n`,
      );
    else if (sessions.length === 0) process.stdout.write(o.state?.length ? `no sessions in state ${o.state.join(' or ')}\n` : 'no sessions recorded\n');
    else process.stdout.write(formatTable(sessions, now, { maxRetries: config.upload.max_retries, next }));
    return EXIT.ok;
  } finally {
    await share.close();
    await db.close();
    flush();
  }
}

/** Requeues one session, or every needs_attention session; each requeue is logged with who asked. */
export async function retry(configFile: string, ref: string | undefined, o: { allNeedsAttention?: boolean }): Promise<number> {
  if (!ref === !o.allNeedsAttention) throw new CliExit(EXIT.usage, 'name one session, or pass --all-needs-attention');
  const config = await readConfig(configFile);
  const { logger, flush } = createLogger({ stream: 'stderr', logDir: config.storage.log_dir });
  const db = await openStateDb(config, process.env, logger, { migrate: true, shareWithRunningAgent: true });
  const who = operatorName();
  try {
    let targets: SessionRow[];
    if (ref) {
      const found = await findSessionsOnShares(db, config, ref);
      if (found.length === 0) throw new CliExit(EXIT.usage, `no session matches ${ref}`);
      targets = found.filter((s) => startsFrom('retry', s.status));
      if (targets.length === 0) {
        const dismissed = found.some((s) => s.status === 'dismissed')
          ? '; a dismissed session stays dismissed: if its folder is back, the agent takes it as a new session'
          : '';
        throw new CliExit(
          EXIT.sessionFailed,
          `${ref} is not failed or needs_attention (${found.map((s) => `row ${s.pk}: ${s.status}`).join(', ')})${dismissed}`,
        );
      }
      if (targets.length > 1)
        throw new CliExit(EXIT.usage, `${ref} matches several sessions (rows ${targets.map((s) => s.pk).join(', ')}): name one by its row number`);
    } else {
      targets = await listSessionsInState(db, 'needs_attention');
    }
    let busy = 0;
    for (const target of targets) {
      const from = await requeueSession(db, target.pk, who, await readDatabaseClock(db));
      if (!from) {
        busy++;
        process.stderr.write(
          `session ${target.sessionId ?? target.folderName} (row ${target.pk}) is being worked on by an agent right now; try again shortly\n`,
        );
        continue;
      }
      logger.info(
        {
          event: 'session_retry_requested',
          session_pk: target.pk,
          folder: target.folderPath,
          ...(target.sessionId ? { session_id: target.sessionId } : {}),
          from,
          to: TRANSITIONS.retry.to,
          by: who,
        },
        'session requeued',
      );
      process.stdout.write(`session ${target.sessionId ?? target.folderName} (row ${target.pk}): ${from} → ${TRANSITIONS.retry.to}\n`);
    }
    if (targets.length === 0) process.stdout.write('no session needs attention\n');
    return busy > 0 ? EXIT.sessionFailed : EXIT.ok;
  } finally {
    await db.close();
    flush();
  }
}
