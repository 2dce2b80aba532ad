/**
 * The scan-cost benchmark (`npm run bench -- --scan 1000x100`): SESSIONSxFILES idle session
 * folders, none with its required marker, so every cycle observes each one and leaves it
 * waiting. The tree is created once (kept in --data-dir); a fresh PostgreSQL schema; one
 * `scan-once` discovers and observes everything, then `runs` more are timed (median
 * reported): wall time, CPU, peak RSS, bytes read (must be start-up only: nothing is hashed),
 * DB round trips of the cycle (`cycle_completed.db_round_trips`), and — when strace is
 * installed — the file-system calls of one more cycle (`strace -c -f`).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { measure, median, nodeFlagsOf, type Measured } from './measure.js';

export interface ScanSpec {
  sessions: number;
  filesPerSession: number;
}

export function parseScanSpec(text: string): ScanSpec {
  const m = /^(\d+)x(\d+)$/.exec(text.trim());
  if (!m) throw new Error(`--scan "${text}": expected SESSIONSxFILES, e.g. 1000x100`);
  return { sessions: Number(m[1]), filesPerSession: Number(m[2]) };
}

async function ensureTree(dataDir: string, spec: ScanSpec): Promise<string> {
  const base = join(dataDir, `scan-${spec.sessions}x${spec.filesPerSession}`);
  const root = join(base, 'root');
  const specFile = join(base, 'spec.json');
  if ((await readFile(specFile, 'utf8').catch(() => '')) === JSON.stringify(spec)) return root;
  await rm(base, { recursive: true, force: true });
  const body = Buffer.alloc(100, 'x');
  for (let s = 0; s < spec.sessions; s++) {
    const dir = join(root, `session-${String(s).padStart(5, '0')}`);
    await mkdir(dir, { recursive: true });
    const writes: Promise<void>[] = [];
    for (let f = 0; f < spec.filesPerSession; f++) writes.push(writeFile(join(dir, `file-${String(f).padStart(4, '0')}.dat`), body));
    await Promise.all(writes);
  }
  await writeFile(specFile, JSON.stringify(spec));
  return root;
}

export interface ScanRow {
  dataset: string;
  sessions: number;
  files: number;
  runs: number;
  wall_s: number;
  cpu_s: number;
  peak_rss_mb: number;
  /** rchar of the timed cycle, bytes: start-up (JS modules) only when nothing is hashed. */
  read_bytes: number;
  dataset_bytes: number;
  db_round_trips: number;
  /** File-system calls of one cycle, by syscall (strace -c -f), when strace is installed. */
  syscalls?: Record<string, number>;
  runs_wall_s: number[];
}

function cycleRoundTrips(m: Measured): number {
  for (const line of m.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const e = JSON.parse(line) as { event?: string; db_round_trips?: number };
    if (e.event === 'cycle_completed') return e.db_round_trips ?? NaN;
  }
  return NaN;
}

export async function runScanBench(
  o: {
    dataDir: string;
    runs: number;
    main: string;
    env: NodeJS.ProcessEnv;
    endpoint: string;
    bucket: string;
    withSchema: <T>(fn: (url: string) => Promise<T>) => Promise<T>;
  },
  spec: ScanSpec,
): Promise<ScanRow> {
  process.stdout.write(`[bench] scan tree ${spec.sessions} sessions × ${spec.filesPerSession} files… `);
  const root = await ensureTree(o.dataDir, spec);
  console.log('ready');
  const work = await mkdtemp(join(o.dataDir, 'scan-work-'));
  const configFile = join(work, 'config.yaml');
  await writeFile(
    configFile,
    [
      'agent: {machine_id: bench, lab_id: bench, stable_window_seconds: 300, move_after_upload: false}',
      `watch: {session_roots: [{path: ${root}, profile: bench}]}`,
      'profiles: {bench: {required_markers: [SESSION_DONE]}}',
      `upload: {s3_bucket: ${o.bucket}, s3_region: us-east-1, s3_endpoint: ${o.endpoint}, s3_force_path_style: true}`,
      `storage: {manifest_cache_dir: ${join(work, 'manifests')}, log_dir: ${join(work, 'logs')}}`,
      '',
    ].join('\n'),
  );
  try {
    return await o.withSchema(async (url) => {
      const env = { ...o.env, DATABASE_URL: url };
      const argv = [process.execPath, ...(await nodeFlagsOf(o.main)), o.main, 'scan-once', '--config', configFile];
      const first = await measure(work, argv, env);
      if (first.code !== 0) throw new Error(`scan-once failed (${first.code}): ${first.stderr}${first.stdout.slice(-2000)}`);
      console.log(`[bench] scan first cycle (discovers ${spec.sessions}): ${first.wallSeconds.toFixed(2)} s, DB RT ${cycleRoundTrips(first)}`);
      const timed: Measured[] = [];
      for (let i = 0; i < o.runs; i++) {
        const m = await measure(work, argv, env);
        if (m.code !== 0) throw new Error(`scan-once failed (${m.code}): ${m.stderr}${m.stdout.slice(-2000)}`);
        console.log(
          `[bench] scan idle cycle ${i + 1}/${o.runs}: ${m.wallSeconds.toFixed(2)} s, ${m.cpuSeconds.toFixed(2)} CPU-s, ${m.peakRssMb.toFixed(0)} MB, read ${(m.rchar / 1e6).toFixed(1)} MB, DB RT ${cycleRoundTrips(m)}`,
        );
        timed.push(m);
      }
      const row: ScanRow = {
        dataset: `${spec.sessions}x${spec.filesPerSession}`,
        sessions: spec.sessions,
        files: spec.sessions * spec.filesPerSession,
        runs: timed.length,
        wall_s: round(median(timed.map((m) => m.wallSeconds))),
        cpu_s: round(median(timed.map((m) => m.cpuSeconds))),
        peak_rss_mb: Math.round(median(timed.map((m) => m.peakRssMb))),
        read_bytes: median(timed.map((m) => m.rchar)),
        dataset_bytes: spec.sessions * spec.filesPerSession * 100,
        db_round_trips: median(timed.map(cycleRoundTrips)),
        runs_wall_s: timed.map((m) => round(m.wallSeconds)),
      };
      const counts = await straceCounts(work, argv, env);
      if (counts) row.syscalls = counts;
      return row;
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

const FS_CALLS = ['lstat', 'newfstatat', 'statx', 'stat', 'fstat', 'openat', 'getdents64', 'read', 'close'];

/** One more cycle under `strace -c -f` (its wall time is not reported: strace slows every call). */
async function straceCounts(work: string, argv: string[], env: NodeJS.ProcessEnv): Promise<Record<string, number> | null> {
  const out = join(work, 'strace.txt');
  // Asynchronously: the no-op S3 endpoint lives in this process's event loop.
  const r = await new Promise<{ ok: boolean; tail: string }>((resolve) => {
    const child = spawn('strace', ['-c', '-f', '-o', out, '-e', `trace=${FS_CALLS.join(',')}`, ...argv], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (c: Buffer) => (text = (text + c.toString('utf8')).slice(-20000)));
    child.stderr.on('data', (c: Buffer) => (text = (text + c.toString('utf8')).slice(-20000)));
    child.on('error', () => resolve({ ok: false, tail: 'strace not found' }));
    child.on('close', () => resolve({ ok: text.includes('"cycle_completed"'), tail: text.slice(-500) }));
  });
  if (!r.ok) {
    console.log(`[bench] strace run failed: ${r.tail}`);
    return null;
  }
  let text: string;
  try {
    text = readFileSync(out, 'utf8');
  } catch {
    return null;
  }
  const counts: Record<string, number> = {};
  // "% time  seconds  usecs/call  calls  errors syscall"
  for (const line of text.split('\n')) {
    const cols = line.trim().split(/\s+/);
    const name = cols[cols.length - 1] ?? '';
    if (!FS_CALLS.includes(name)) continue;
    const calls = Number(cols[3]);
    if (Number.isFinite(calls)) counts[name] = calls;
  }
  return counts;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export function scanTable(r: ScanRow): string {
  const head = ['sessions × files', 'idle cycle wall s', 'CPU-s', 'peak RSS MB', 'read MB (start-up only)', 'DB RT/cycle', 'fs calls/cycle (strace)'];
  const sys = r.syscalls
    ? Object.entries(r.syscalls)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')
    : 'strace not installed';
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    `| ${r.sessions} × ${r.files / r.sessions} | ${r.wall_s.toFixed(2)} | ${r.cpu_s.toFixed(2)} | ${r.peak_rss_mb} | ${(r.read_bytes / 1e6).toFixed(1)} | ${r.db_round_trips} | ${sys} |`,
  ].join('\n');
}
