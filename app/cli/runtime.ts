import type { S3Client } from '@aws-sdk/client-s3';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError, formatProblem, loadConfig } from '../config/load.js';
import type { AgentConfig } from '../config/schema.js';
import type { Deps } from '../deps.js';
import { type AgentError, classifyError, httpStatus, redactSecrets } from '../errors.js';
import type { Metrics } from '../health/metrics-api.js';
import { createLogger, type LoggerHandle } from '../logging/logger.js';
import { nfsWindowWarnings } from '../share/nfs-window.js';
import { S3AccessGate, probePrefix } from '../s3/access-gate.js';
import { createS3Client } from '../s3/client.js';
import { Transfer } from '../s3/transfer.js';
import { openShare } from '../share/open-share.js';
import type { Share } from '../share/share.js';
import { checkDatabaseUrl, describeDatabaseUrl } from '../state/database-url.js';
import { createPgDb, type Db } from '../state/db.js';
import { openEmbeddedDb } from '../state/embedded-db.js';
import { migrate } from '../state/migrate.js';
import { SKEW_WARNING_SECONDS, describeSkew } from '../state/clock-skew.js';
import { DatabaseTime } from '../state/database-time.js';
import { newAgentId } from '../state/lease-holder.js';
import { type DependencyWait, openWhenReachable } from './dependency-wait.js';
import { CliExit, EXIT } from './exit-codes.js';

export async function readConfig(file: string): Promise<AgentConfig> {
  try {
    return await loadConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliExit(EXIT.usage, `invalid configuration ${file}:\n${err.problems.map(formatProblem).join('\n')}`);
    throw err;
  }
}

/** The share for the configured roots (local paths and nfs:// roots alike); close it at exit. */
export function shareFor(config: AgentConfig): Share {
  return openShare(config.watch.session_roots, config.share.nfs);
}

export function stateDir(config: AgentConfig): string {
  return config.storage.state_dir ?? dirname(config.storage.manifest_cache_dir.replace(/\/+$/, ''));
}

export interface StateDbOptions {
  migrate: boolean;
  /** `run`: serve the embedded database on a local socket for the operator commands. */
  serve?: boolean;
  /** Operator commands: use the embedded database through the socket of the `run` holding it. */
  shareWithRunningAgent?: boolean;
}

/** PostgreSQL when DATABASE_URL is set, else the embedded PGlite; migrated; exit 3 when it cannot be reached. */
export async function openStateDb(
  config: AgentConfig,
  env: NodeJS.ProcessEnv,
  log: LoggerHandle['logger'],
  options: StateDbOptions = { migrate: true },
): Promise<Db> {
  const url = env.DATABASE_URL;
  let where = `embedded database in ${stateDir(config)}`;
  if (url) {
    try {
      where = `PostgreSQL at ${describeDatabaseUrl(checkDatabaseUrl(url))} (DATABASE_URL)`;
    } catch (err) {
      throw new CliExit(EXIT.usage, classifyError(err).message, false, 'DATABASE_URL_INVALID');
    }
  }
  let db: Db | undefined;
  try {
    db = url
      ? createPgDb(url, { onError: (err) => log.warn({ event: 'db_connection_error', err }, 'database connection dropped') })
      : await openEmbeddedDb(stateDir(config), {
          serve: options.serve ?? false,
          shareWithRunningAgent: options.shareWithRunningAgent ?? false,
          onNotServed: (reason) =>
            log.warn({ event: 'embedded_db_not_served', reason }, 'status, retry and doctor cannot reach the embedded database while this agent runs'),
        });
    if (!options.migrate) {
      await db.query('SELECT 1');
      return db;
    }
    const applied = await migrate(db);
    if (applied.length > 0) log.info({ event: 'db_migrated', applied, db: db.kind }, 'state database migrated');
    return db;
  } catch (err) {
    await db?.close().catch(() => undefined);
    const e = classifyError(err);
    if (e.code === 'STATE_DIR_LOCKED') throw new CliExit(EXIT.infrastructure, e.message, false, e.code);
    // A connection cut while connecting can surface as a bare "read ECONNRESET", which the
    // classifier cannot tell from a share's socket: with DATABASE_URL it is the database's.
    const cut = url !== undefined && /^FS_E(CONNRESET|CONNREFUSED|PIPE|TIMEDOUT|HOSTUNREACH)$/.test(e.code);
    throw new CliExit(EXIT.infrastructure, `state database unavailable: ${where}: ${redactSecrets(e.message)}`, e.retryable && (e.kind === 'db' || cut));
  }
}

/**
 * The start-up look at S3 (one listing under the prefix: the task role may list only there).
 * null when S3 accepts the agent; a server error only warns (S3 answered, and uploads retry on
 * their own).
 */
async function s3StartProblem(s3: S3Client, config: AgentConfig, log: LoggerHandle['logger']): Promise<AgentError | null> {
  const problem = await probePrefix(s3, config.upload);
  const status = httpStatus(problem?.cause);
  if (problem?.kind === 's3' && status !== undefined && status >= 500) {
    log.warn(
      { event: 's3_check_inconclusive', bucket: config.upload.s3_bucket, status, err: problem },
      'S3 answered the start-up check with an error; continuing',
    );
    return null;
  }
  return problem;
}

/** Exit 3 for a start-up problem with S3, marked waitable unless no waiting can fix it (no such bucket, an untrusted certificate). */
function s3Exit(config: AgentConfig, problem: AgentError): CliExit {
  const what = problem.kind === 's3_access' ? 'S3 refuses this agent' : 'S3 unavailable';
  const untrusted = /CERT|SELF_SIGNED/.test(String((problem.cause as { code?: unknown } | null)?.code ?? ''));
  return new CliExit(EXIT.infrastructure, `${what}: bucket ${config.upload.s3_bucket}: ${redactSecrets(problem.message)}`, problem.retryable && !untrusted);
}

export interface Runtime {
  deps: Deps;
  logs: LoggerHandle;
  /** /proc/mounts as read at start ('' where there is none). */
  mounts: string;
  close(): Promise<void>;
}

/**
 * Everything the working commands need, checked at start: exit 3 when the DB or S3 is down,
 * or, with `wait` (run), wait for the database and start with uploads paused while S3 is not
 * there yet.
 */
export async function openRuntime(
  config: AgentConfig,
  options: {
    stream: 'stdout' | 'stderr';
    checkS3: boolean;
    metrics: Metrics;
    terminal?: NodeJS.WritableStream;
    wait?: DependencyWait;
    serveEmbeddedDb?: boolean;
  },
  env = process.env,
): Promise<Runtime> {
  const share = shareFor(config);
  const logs = createLogger({ stream: options.stream, logDir: config.storage.log_dir, ...(options.terminal ? { terminal: options.terminal } : {}) });
  const logger = logs.logger;
  const s3 = createS3Client(config.upload, env);
  const openDb = () => openStateDb(config, env, logger, { migrate: true, serve: options.serveEmbeddedDb ?? false });
  // Both checks at once (≈25 ms of every start); a database problem is the one reported.
  const [opened, reached] = await Promise.allSettled([
    options.wait ? openWhenReachable(openDb, options.wait, logger) : openDb(),
    options.checkS3 ? s3StartProblem(s3, config, logger) : null,
  ]);
  const s3Problem = reached.status === 'fulfilled' ? reached.value : null;
  const s3Failure = s3Problem ? s3Exit(config, s3Problem) : null;
  // Waiting for S3 means starting with uploads paused.
  const fatal =
    opened.status === 'rejected'
      ? opened.reason
      : reached.status === 'rejected'
        ? reached.reason
        : s3Failure && !(options.wait && s3Failure.waitable)
          ? s3Failure
          : null;
  if (opened.status === 'rejected' || fatal) {
    if (opened.status === 'fulfilled') await opened.value.close().catch(() => undefined);
    s3.destroy();
    await share.close();
    logs.flush();
    throw fatal;
  }
  const db = opened.value;
  const mounts = await readFile('/proc/mounts', 'utf8').catch(() => '');
  warnAboutNfsWindow(config, mounts, logger);
  const clock = new DatabaseTime(db);
  await warnAboutClockSkew(clock, logger);
  const s3Access = new S3AccessGate({ s3, upload: config.upload, clock, logger });
  if (s3Problem) s3Access.pause(s3Problem);
  const transfer = new Transfer(s3, config.upload, config.agent.timezone);
  const deps: Deps = { db, s3, transfer, share, s3Access, clock, logger, config, metrics: options.metrics, agentId: newAgentId() };
  return {
    deps,
    logs,
    mounts,
    async close() {
      await transfer.close();
      s3.destroy();
      await share.close().catch(() => undefined);
      await deps.db.close();
      logs.flush();
    },
  };
}

/**
 * Aligns the agent's clock with the state database's. A skewed host only gets a warning: its
 * decisions now run on the database's time, but its log lines and the files' mtimes are read
 * on its own.
 */
async function warnAboutClockSkew(clock: DatabaseTime, log: LoggerHandle['logger']): Promise<void> {
  const skew = await clock.align().catch(() => null);
  if (skew === null || Math.abs(skew) <= SKEW_WARNING_SECONDS) return;
  log.warn(
    { event: 'clock_skew', skew_seconds: Math.round(skew * 10) / 10 },
    `this host's clock is ${describeSkew(skew, 0)} the state database's: leases, stability windows and retry times follow the database's clock, but log timestamps are this host's; sync the clock (chrony/NTP)`,
  );
}

function warnAboutNfsWindow(config: AgentConfig, mounts: string, log: LoggerHandle['logger']): void {
  const window = config.agent.stable_window_seconds;
  for (const w of nfsWindowWarnings(
    mounts,
    config.watch.session_roots.map((r) => r.path),
    window,
  )) {
    log.warn(
      {
        event: 'stable_window_short_for_nfs',
        root: w.root,
        mount_point: w.mountPoint,
        fs_type: w.fsType,
        attribute_cache_seconds: w.attributeCacheSeconds,
        stable_window_seconds: window,
        minimum_seconds: w.minimumWindowSeconds,
      },
      `stable_window_seconds ${window} is shorter than ${w.minimumWindowSeconds}s: this NFS client may not see the lab PC's latest writes for up to ${w.attributeCacheSeconds}s`,
    );
  }
}
