/**
 * One timed agent upload: `uploader-agent scan-once` as a whole process, in the cycle that
 * uploads. With stable_window_seconds 0 a folder is complete on its second observation, so
 * each run first does one `scan-once` that only observes (kept as the run's idle cycle), then
 * the timed one. Every run gets a fresh PostgreSQL schema, so nothing is skipped as already
 * uploaded.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import pg from 'pg';
import { compileFsFaultShim } from './fs-fault-shim.js';
import { measure, nodeFlagsOf, type Measured } from './measure.js';
import { baseEnv } from './peers.js';

export interface AgentSettings {
  repo: string;
  databaseUrl: string;
  bucket: string;
  /** upload.concurrency and upload.part_size_mb, '' for the agent's defaults. */
  concurrency: string;
  partSizeMb: string;
  /** Write a V8 CPU profile of every timed run here ('' for none). */
  cpuProf: string;
  dataDir: string;
  /** Slow the agent's open, read and close of the dataset's files by this many µs (0: not). */
  shareLatencyUs: number;
  /** `nfs://host:port/export` serving dataDir: the agent reads the dataset through it ('' for the local disk). */
  nfsExport: string;
}

export interface AgentRun extends Measured {
  idle: Measured;
  dbRoundTrips: number | undefined;
}

export async function withSchema<T>(base: string, fn: (url: string) => Promise<T>): Promise<T> {
  const schema = `bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  try {
    const u = new URL(base);
    u.searchParams.set('options', `-c search_path=${schema}`);
    return await fn(u.toString());
  } finally {
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
}

/** The agent executable of the build in `dir` (this repo or a --baseline); builds older than the launcher have only main.js. */
export function agentExecutable(dir: string): string {
  const launcher = join(resolve(dir), 'dist', 'app', 'cli', 'uploader-agent.cjs');
  return existsSync(launcher) ? launcher : join(resolve(dir), 'dist', 'app', 'cli', 'main.js');
}

export function agentEnv(databaseUrl: string): NodeJS.ProcessEnv {
  return { ...baseEnv(), AWS_REGION: 'us-east-1', DATABASE_URL: databaseUrl, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
}

/** A configuration watching `root` and uploading to `endpoint` with no retries (a failure is a failed run). */
export async function writeAgentConfig(s: AgentSettings, dir: string, root: string, endpoint: string, prefix: string): Promise<string> {
  const config = [
    'agent: {machine_id: bench, lab_id: bench, stable_window_seconds: 0, move_after_upload: false}',
    `watch: {session_roots: [{path: ${root}, profile: bench}]}`,
    'profiles: {bench: {}}',
    'upload:',
    `  s3_bucket: ${s.bucket}`,
    '  s3_region: us-east-1',
    `  s3_prefix: ${prefix}`,
    `  s3_endpoint: ${endpoint}`,
    '  s3_force_path_style: true',
    '  max_retries: 0',
    ...(s.concurrency ? [`  concurrency: ${s.concurrency}`] : []),
    ...(s.partSizeMb ? [`  part_size_mb: ${s.partSizeMb}`] : []),
    `storage: {manifest_cache_dir: ${join(dir, 'manifests')}, log_dir: ${join(dir, 'logs')}}`,
    '',
  ].join('\n');
  const file = join(dir, 'config.yaml');
  await writeFile(file, config);
  return file;
}

/** The `db_round_trips` of the session's `complete_marker_uploaded` line, or null when the session did not complete. */
export function completedRoundTrips(stdout: string): { dbRoundTrips: number | undefined } | null {
  // Only the one line is parsed: a 100,000-file session logs a line per file.
  const line = stdout.split('\n').find((l) => l.startsWith('{') && l.includes('"complete_marker_uploaded"'));
  if (!line) return null;
  return { dbRoundTrips: (JSON.parse(line) as { db_round_trips?: number }).db_round_trips };
}

export async function runAgent(
  s: AgentSettings,
  work: string,
  ds: { name: string; root: string },
  endpoint: string,
  prefix: string,
  main: string,
): Promise<AgentRun> {
  const dir = await mkdtemp(join(work, 'agent-'));
  // A quoted scalar: an nfs:// URL's colons would not do in a YAML flow mapping.
  const root = s.nfsExport ? JSON.stringify(`${s.nfsExport}/${relative(s.dataDir, ds.root)}`) : ds.root;
  const configFile = await writeAgentConfig(s, dir, root, endpoint, prefix);
  try {
    return await withSchema(s.databaseUrl, async (url) => {
      const env = { ...agentEnv(url), ...shareLatencyEnv(s, ds.root) };
      const node = [process.execPath, ...(await nodeFlagsOf(main))];
      const idle = await measure(work, [...node, main, 'scan-once', '--config', configFile], env);
      if (idle.code !== 0) throw new Error(`agent observe run failed (${idle.code}): ${idle.stderr}${idle.stdout.slice(-2000)}`);
      const prof = s.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${resolve(s.cpuProf)}`, `--cpu-prof-name=${ds.name}-${Date.now()}.cpuprofile`] : [];
      const m = await measure(work, [...node, ...prof, main, 'scan-once', '--config', configFile], env);
      const done = completedRoundTrips(m.stdout);
      if (m.code !== 0 || !done) throw new Error(`agent upload run failed (${m.code}): ${m.stderr}${m.stdout.slice(-3000)}`);
      return { ...m, idle, dbRoundTrips: done.dbRoundTrips };
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The environment that slows the agent's reads of the files under `root` (--share-latency-us). */
function shareLatencyEnv(s: AgentSettings, root: string): NodeJS.ProcessEnv {
  if (!s.shareLatencyUs) return {};
  const shim = join(s.dataDir, 'fsfault.so');
  if (!existsSync(shim)) compileFsFaultShim(join(s.repo, 'tests', 'fault', 'native', 'fsfault.c'), shim);
  return { LD_PRELOAD: shim, FSFAULT_LATENCY_US: String(s.shareLatencyUs), FSFAULT_LATENCY_PATH: root };
}
