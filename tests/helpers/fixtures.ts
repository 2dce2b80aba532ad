import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pino from 'pino';
import { onTestFailed } from 'vitest';
import { ManualClock } from '../../app/clock.js';
import type { AgentConfig } from '../../app/config/schema.js';
import { configSchema } from '../../app/config/schema.js';
import type { Deps } from '../../app/deps.js';
import { createMetrics } from '../../app/health/metrics.js';
import { S3AccessGate } from '../../app/s3/access-gate.js';
import { createS3Client } from '../../app/s3/client.js';
import { Transfer } from '../../app/s3/transfer.js';
import { LocalShare } from '../../app/share/local-share.js';
import type { TestDatabase } from './database.js';
import type { TestS3 } from './s3.js';

export async function tempDir(prefix = 'uploader-test-'): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Writes files (relative path → content) into `folder`, with mtimes in the past so they look settled. */
export async function writeSession(folder: string, files: Record<string, string | Buffer>): Promise<void> {
  await mkdir(folder, { recursive: true });
  for (const [rel, content] of Object.entries(files)) {
    const path = join(folder, rel);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content);
    const past = new Date(Date.now() - 3600_000);
    await utimes(path, past, past);
  }
}

export function testConfig(opts: {
  root: string;
  work: string;
  s3: { endpoint: string; bucket: string };
  overrides?: Partial<Record<keyof AgentConfig, object>>;
}): AgentConfig {
  const base = {
    agent: { machine_id: 'test-pc', lab_id: 'test-lab', scan_interval_seconds: 1, stable_window_seconds: 0, lease_seconds: 30 },
    watch: { session_roots: [{ path: opts.root, profile: 'battery_session' }] },
    profiles: { battery_session: { required_markers: ['session_summary.json'], ignore_patterns: ['*.tmp', '*.lock'], metadata_files: ['metadata.json'] } },
    upload: {
      s3_bucket: opts.s3.bucket,
      s3_region: 'us-east-1',
      s3_prefix: '',
      s3_endpoint: opts.s3.endpoint,
      s3_force_path_style: true,
      max_retries: 3,
      initial_backoff_seconds: 30,
      part_size_mb: 5,
      concurrency: 4,
    },
    storage: { manifest_cache_dir: join(opts.work, 'manifests'), log_dir: join(opts.work, 'logs') },
  };
  const merged: Record<string, object> = { ...base };
  for (const [k, v] of Object.entries(opts.overrides ?? {})) merged[k] = { ...(base as Record<string, object>)[k], ...v };
  return configSchema.parse(merged);
}

export interface LogCapture {
  lines: Record<string, unknown>[];
  events(name: string): Record<string, unknown>[];
}

export function testDeps(
  config: AgentConfig,
  database: TestDatabase,
  s3: Pick<TestS3, 'credentials'>,
  clock = new ManualClock(new Date()),
): { deps: Deps; clock: ManualClock; logs: LogCapture } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  // The SDK's credential chain reads the process environment, as it does in production.
  process.env.AWS_ACCESS_KEY_ID = s3.credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = s3.credentials.secretAccessKey;
  const s3Client = createS3Client(config.upload, {});
  const s3Access = new S3AccessGate({ s3: s3Client, upload: config.upload, clock, logger });
  const transfer = new Transfer(s3Client, config.upload, config.agent.timezone);
  const deps: Deps = {
    db: database.db,
    s3: s3Client,
    transfer,
    share: new LocalShare(),
    s3Access,
    clock,
    logger,
    config,
    metrics: createMetrics(),
    agentId: 'test-agent',
  };
  dumpLogsOnFailure(lines);
  return { deps, clock, logs: { lines, events: (name) => lines.filter((l) => l.event === name) } };
}

/** A failed or timed-out test prints the agent's last log lines: CI output is all there is to read. */
function dumpLogsOnFailure(lines: Record<string, unknown>[]): void {
  try {
    onTestFailed(() => {
      console.log(`[tests] the agent's last ${Math.min(lines.length, 40)} of ${lines.length} log lines:`);
      for (const line of lines.slice(-40)) console.log(JSON.stringify(line));
    });
  } catch {
    // Called outside a running test (a beforeAll): nothing to attach to.
  }
}
