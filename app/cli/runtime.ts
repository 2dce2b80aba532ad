import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { ConfigError, formatProblem, loadConfig } from '../config/load.js';
import type { AgentConfig } from '../config/schema.js';
import type { Deps } from '../deps.js';
import { classifyError, httpStatus, redactSecrets } from '../errors.js';
import type { Metrics } from '../health/metrics-api.js';
import { createLogger, type LoggerHandle } from '../logging/logger.js';
import { nfsWindowWarnings } from '../share/nfs-window.js';
import { createS3Client } from '../s3/client.js';
import { openShare } from '../share/open-share.js';
import type { Share } from '../share/share.js';
import { createPgDb, type Db } from '../state/db.js';
import { openEmbeddedDb } from '../state/embedded-db.js';
import { migrate } from '../state/migrate.js';
import { SKEW_WARNING_SECONDS, describeSkew } from '../state/clock-skew.js';
import { DatabaseTime } from '../state/database-time.js';
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

/** PostgreSQL when DATABASE_URL is set, else the embedded PGlite; migrated; exit 3 when it cannot be reached. */
export async function openStateDb(config: AgentConfig, env: NodeJS.ProcessEnv, log: LoggerHandle['logger'], options: { migrate: boolean } = { migrate: true }): Promise<Db> {
  const url = env.DATABASE_URL;
  let db: Db | undefined;
  try {
    db = url ? createPgDb(url, { onError: (err) => log.warn({ event: 'db_connection_error', err }, 'database connection dropped') }) : await openEmbeddedDb(stateDir(config));
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
    if (e.code === 'STATE_DIR_LOCKED') throw new CliExit(EXIT.infrastructure, e.message);
    const where = url ? 'PostgreSQL (DATABASE_URL)' : `embedded database in ${stateDir(config)}`;
    throw new CliExit(EXIT.infrastructure, `state database unavailable: ${where}: ${redactSecrets(e.message)}`);
  }
}

/**
 * Exit 3 when S3 cannot be reached or the bucket does not exist. Lists at most one key under
 * the prefix: the task role may list only there (HeadBucket would need the whole bucket).
 * A 403 or a server error only warns: S3 answered, and uploads retry on their own.
 */
export async function checkS3(s3: S3Client, config: AgentConfig, log: LoggerHandle['logger']): Promise<void> {
  const prefix = config.upload.s3_prefix.split('/').filter(Boolean).join('/');
  try {
    await s3.send(new ListObjectsV2Command({ Bucket: config.upload.s3_bucket, Prefix: prefix ? `${prefix}/` : '', MaxKeys: 1 }), { abortSignal: AbortSignal.timeout(30_000) });
  } catch (err) {
    const status = httpStatus(err);
    if (status === 403 || (status !== undefined && status >= 500)) {
      log.warn({ event: 's3_check_inconclusive', bucket: config.upload.s3_bucket, status, err }, 'S3 answered the start-up check with an error; continuing');
      return;
    }
    const e = classifyError(err);
    throw new CliExit(EXIT.infrastructure, `S3 unavailable: bucket ${config.upload.s3_bucket}: ${redactSecrets(e.message)}`);
  }
}

export function newAgentId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export interface Runtime {
  deps: Deps;
  logs: LoggerHandle;
  /** /proc/mounts as read at start ('' where there is none). */
  mounts: string;
  close(): Promise<void>;
}

/** Everything the working commands need, checked at start (exit 3 when the DB or S3 is down). */
export async function openRuntime(
  configFile: string,
  options: { stream: 'stdout' | 'stderr'; checkS3: boolean; metrics: Metrics; terminal?: NodeJS.WritableStream },
  env = process.env,
): Promise<Runtime> {
  const config = await readConfig(configFile);
  const share = shareFor(config);
  const logs = createLogger({ stream: options.stream, logDir: config.storage.log_dir, ...(options.terminal ? { terminal: options.terminal } : {}) });
  const logger = logs.logger;
  const s3 = createS3Client(config.upload, env);
  // Both checks at once (≈25 ms of every start); a database problem is the one reported.
  const [opened, reached] = await Promise.allSettled([openStateDb(config, env, logger), options.checkS3 ? checkS3(s3, config, logger) : undefined]);
  if (opened.status === 'rejected' || reached.status === 'rejected') {
    if (opened.status === 'fulfilled') await opened.value.close().catch(() => undefined);
    s3.destroy();
    await share.close();
    logs.flush();
    throw opened.status === 'rejected' ? opened.reason : reached.status === 'rejected' ? reached.reason : undefined;
  }
  const db = opened.value;
  const mounts = await readFile('/proc/mounts', 'utf8').catch(() => '');
  warnAboutNfsWindow(config, mounts, logger);
  const clock = new DatabaseTime(db);
  await warnAboutClockSkew(clock, logger);
  const deps: Deps = { db, s3, share, clock, logger, config, metrics: options.metrics, agentId: newAgentId() };
  return {
    deps,
    logs,
    mounts,
    async close() {
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
  for (const w of nfsWindowWarnings(mounts, config.watch.session_roots.map((r) => r.path), window)) {
    log.warn(
      { event: 'stable_window_short_for_nfs', root: w.root, mount_point: w.mountPoint, fs_type: w.fsType, attribute_cache_seconds: w.attributeCacheSeconds, stable_window_seconds: window, minimum_seconds: w.minimumWindowSeconds },
      `stable_window_seconds ${window} is shorter than ${w.minimumWindowSeconds}s: this NFS client may not see the lab PC's latest writes for up to ${w.attributeCacheSeconds}s`,
    );
  }
}
