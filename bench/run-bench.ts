/**
 * `npm run bench`: the agent's real CLI against rclone and the AWS CLI, same data, same
 * endpoint, alternating runs, median of N. Not a test: it prints a table and writes
 * bench/results/latest.json. Flags (or BENCH_* environment variables):
 *   --runs 3                      runs per tool, dataset and endpoint (median reported)
 *   --datasets big=4x256M,...     name=COUNTxSIZE[/FOLDERS]; --quick for small ones
 *   --endpoints noop,s3rver       noop: in-process sink that discards bodies; s3rver: real server
 *   --tools agent,rclone,aws      peers are skipped when not installed
 *   --concurrency N --part-size-mb N   agent upload settings (defaults: the agent's)
 *   --baseline DIR                also run the agent built in DIR (a worktree of an older commit) as `agent-base`
 *   --cpu-prof DIR                write a V8 CPU profile of every timed agent run to DIR
 *   --data-dir /tmp/lab-bench     where datasets are generated (kept between runs)
 *   --out bench/results/latest.json
 *   --share-latency-us N          the agent reads the share through tests/fault/native/fsfault.c, every
 *                                 open, read and close taking N µs more (an NFS round trip); peers
 *                                 are not slowed by it (Go and Python bypass the C library), so
 *                                 only agent runs are made. Compare with UV_THREADPOOL_SIZE=4 set
 *                                 (libuv's default pool, the agent's before it sized its own).
 *   --scan 1000x100               only the scan-cost benchmark: SESSIONSxFILES idle sessions (see scan-bench.ts);
 *                                 its result is merged into --out as `scan`
 *
 * What is timed for the agent: `uploader-agent scan-once` as a whole process (start-up,
 * config, PostgreSQL migrations check, S3 check, scan, stability decision, reading and
 * hashing every file, uploads, DB records, manifest.json, `_COMPLETE`), in the cycle that
 * uploads. With stable_window_seconds 0 a folder is complete on its second observation, so
 * every run first does one `scan-once` that only observes (reported separately as the idle
 * cycle), then the timed one. Every run gets a fresh PostgreSQL schema, so nothing is
 * skipped as already uploaded. Peers: `rclone copy` and `aws s3 cp --recursive` of the
 * session folder, with their defaults.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startLocalS3 } from '../demo/local-s3.js';
import { ensureDataset, parseDatasets, type Dataset } from './datasets.js';
import { measure, median, nodeFlagsOf, type Measured } from './measure.js';
import { startNoopS3 } from './noop-s3.js';
import { compileFsFaultShim } from './fs-fault-shim.js';
import { parseScanSpec, runScanBench, scanTable } from './scan-bench.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const BUCKET = 'bench';
const CREDS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

type Tool = 'agent' | 'agent-base' | 'rclone' | 'aws';
type EndpointKind = 'noop' | 's3rver';

interface RunResult extends Measured {
  tool: Tool;
  dataset: string;
  endpoint: EndpointKind;
  run: number;
  /** Agent only: the observing scan-once before the timed one. */
  idle?: Measured;
  dbRoundTrips?: number;
}

function options() {
  const args = process.argv.slice(2);
  const flag = (name: string, fallback: string): string => {
    const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
    if (i >= 0) {
      const a = args[i] as string;
      return a.includes('=') ? a.slice(a.indexOf('=') + 1) : (args[i + 1] ?? '');
    }
    return process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`] ?? fallback;
  };
  const quick = args.includes('--quick') || process.env.BENCH_QUICK === '1';
  return {
    runs: Number(flag('runs', '3')),
    datasets: parseDatasets(flag('datasets', quick ? 'big=4x32M,medium=50x2M,small=500x16K/10,tiny=5x16K' : 'big=4x256M,medium=200x2M,small=5000x16K/50,tiny=5x16K')),
    endpoints: flag('endpoints', 'noop,s3rver').split(',').filter(Boolean) as EndpointKind[],
    tools: flag('tools', 'agent,rclone,aws').split(',').filter(Boolean) as Tool[],
    concurrency: flag('concurrency', ''),
    partSizeMb: flag('part-size-mb', ''),
    cpuProf: flag('cpu-prof', ''),
    baseline: flag('baseline', ''),
    dataDir: flag('data-dir', '/tmp/lab-bench'),
    out: flag('out', join(repo, 'bench', 'results', 'latest.json')),
    scan: flag('scan', ''),
    shareLatencyUs: Number(flag('share-latency-us', '0')),
    databaseUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  };
}
type Options = ReturnType<typeof options>;

function which(cmd: string): string | null {
  try {
    const path = execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim();
    if (!path) return null;
    // A pyenv shim costs a bash and a pyenv start per call: run the real script.
    if (path.includes('/.pyenv/shims/')) return execFileSync('pyenv', ['which', cmd], { encoding: 'utf8' }).trim() || path;
    return path;
  } catch {
    return null;
  }
}

function toolVersion(argv: string[]): string {
  try {
    return execFileSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0]?.trim() ?? '';
  } catch {
    return 'unknown';
  }
}

/** The environment for every tool: loopback HTTP endpoints need no CA bundle (rclone refuses AWS_CA_BUNDLE on plain HTTP). */
function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...CREDS };
  for (const k of ['AWS_CA_BUNDLE', 'NODE_EXTRA_CA_CERTS', 'AWS_PROFILE', 'AWS_SESSION_TOKEN']) delete env[k];
  return env;
}

async function withSchema<T>(base: string, fn: (url: string) => Promise<T>): Promise<T> {
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

async function runAgent(o: Options, work: string, ds: Dataset, endpoint: string, prefix: string, main: string): Promise<Omit<RunResult, 'tool' | 'dataset' | 'endpoint' | 'run'>> {
  const dir = await mkdtemp(join(work, 'agent-'));
  const upload = [
    `  s3_bucket: ${BUCKET}`,
    '  s3_region: us-east-1',
    `  s3_prefix: ${prefix}`,
    `  s3_endpoint: ${endpoint}`,
    '  s3_force_path_style: true',
    '  max_retries: 0',
    ...(o.concurrency ? [`  concurrency: ${o.concurrency}`] : []),
    ...(o.partSizeMb ? [`  part_size_mb: ${o.partSizeMb}`] : []),
  ];
  const config = [
    'agent: {machine_id: bench, lab_id: bench, stable_window_seconds: 0, move_after_upload: false}',
    `watch: {session_roots: [{path: ${ds.root}, profile: bench}]}`,
    'profiles: {bench: {}}',
    'upload:',
    ...upload,
    `storage: {manifest_cache_dir: ${join(dir, 'manifests')}, log_dir: ${join(dir, 'logs')}}`,
    '',
  ].join('\n');
  const configFile = join(dir, 'config.yaml');
  await writeFile(configFile, config);
  try {
    return await withSchema(o.databaseUrl, async (url) => {
      const env = { ...baseEnv(), AWS_REGION: 'us-east-1', DATABASE_URL: url, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...shareLatencyEnv(o, ds) };
      const node = [process.execPath, ...(await nodeFlagsOf(main))];
      const idle = await measure(work, [...node, main, 'scan-once', '--config', configFile], env);
      if (idle.code !== 0) throw new Error(`agent observe run failed (${idle.code}): ${idle.stderr}${idle.stdout.slice(-2000)}`);
      const prof = o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${resolve(o.cpuProf)}`, `--cpu-prof-name=${ds.name}-${Date.now()}.cpuprofile`] : [];
      const m = await measure(work, [...node, ...prof, main, 'scan-once', '--config', configFile], env);
      const events = m.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { event?: string; db_round_trips?: number; files?: number });
      const done = events.find((e) => e.event === 'complete_marker_uploaded');
      if (m.code !== 0 || !done) throw new Error(`agent upload run failed (${m.code}): ${m.stderr}${m.stdout.slice(-3000)}`);
      return { ...m, idle, dbRoundTrips: done.db_round_trips };
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The environment that slows the agent's reads of the dataset's files (--share-latency-us). */
function shareLatencyEnv(o: Options, ds: Dataset): NodeJS.ProcessEnv {
  if (!o.shareLatencyUs) return {};
  const shim = join(o.dataDir, 'fsfault.so');
  if (!existsSync(shim)) compileFsFaultShim(join(repo, 'tests', 'fault', 'native', 'fsfault.c'), shim);
  return { LD_PRELOAD: shim, FSFAULT_LATENCY_US: String(o.shareLatencyUs), FSFAULT_LATENCY_PATH: ds.root };
}

/** The agent executable of the build in `dir` (this repo or a --baseline); builds older than the launcher have only main.js. */
function agentExecutable(dir: string): string {
  const launcher = join(resolve(dir), 'dist', 'app', 'cli', 'uploader-agent.cjs');
  return existsSync(launcher) ? launcher : join(resolve(dir), 'dist', 'app', 'cli', 'main.js');
}

async function runPeer(tool: 'rclone' | 'aws', bin: string, work: string, ds: Dataset, endpoint: string, prefix: string): Promise<Measured> {
  const env: NodeJS.ProcessEnv = { ...baseEnv(), AWS_DEFAULT_REGION: 'us-east-1', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };
  let argv: string[];
  if (tool === 'rclone') {
    Object.assign(env, {
      RCLONE_CONFIG_BENCH_TYPE: 's3',
      RCLONE_CONFIG_BENCH_PROVIDER: 'Other',
      RCLONE_CONFIG_BENCH_ENDPOINT: endpoint,
      RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: CREDS.AWS_ACCESS_KEY_ID,
      RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: CREDS.AWS_SECRET_ACCESS_KEY,
      RCLONE_CONFIG_BENCH_REGION: 'us-east-1',
      RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE: 'true',
    });
    const conf = join(work, 'rclone.conf');
    if (!existsSync(conf)) await writeFile(conf, '');
    argv = [bin, 'copy', '--config', conf, ds.sessionDir, `bench:${BUCKET}/${prefix}`];
  } else {
    argv = [bin, 's3', 'cp', '--recursive', '--only-show-errors', '--endpoint-url', endpoint, ds.sessionDir, `s3://${BUCKET}/${prefix}/`];
  }
  const m = await measure(work, argv, env);
  if (m.code !== 0) throw new Error(`${tool} failed (${m.code}): ${m.stderr.slice(-2000)}`);
  return m;
}

interface Row {
  dataset: string;
  endpoint: EndpointKind;
  tool: Tool;
  runs: number;
  files: number;
  bytes: number;
  wall_s: number;
  mb_per_s: number;
  files_per_s: number;
  cpu_s: number;
  peak_rss_mb: number;
  read_per_byte: number;
  /** Agent: rchar of the timed run minus that of the observing run (start-up reads: JS modules). */
  read_per_byte_net?: number;
  db_round_trips?: number;
  idle_cycle_s?: number;
  runs_wall_s: number[];
}

function summarize(results: RunResult[], ds: Dataset, endpoint: EndpointKind, tool: Tool): Row | null {
  const rs = results.filter((r) => r.dataset === ds.name && r.endpoint === endpoint && r.tool === tool);
  if (rs.length === 0) return null;
  const wall = median(rs.map((r) => r.wallSeconds));
  const row: Row = {
    dataset: ds.name,
    endpoint,
    tool,
    runs: rs.length,
    files: ds.files,
    bytes: ds.totalBytes,
    wall_s: round(wall, 3),
    mb_per_s: round(ds.totalBytes / 1e6 / wall, 1),
    files_per_s: round(ds.files / wall, 0),
    cpu_s: round(median(rs.map((r) => r.cpuSeconds)), 2),
    peak_rss_mb: round(median(rs.map((r) => r.peakRssMb)), 0),
    read_per_byte: round(median(rs.map((r) => r.rchar / ds.totalBytes)), 3),
    runs_wall_s: rs.map((r) => round(r.wallSeconds, 3)),
  };
  if (tool === 'agent' || tool === 'agent-base') {
    row.read_per_byte_net = round(median(rs.map((r) => (r.rchar - (r.idle?.rchar ?? 0)) / ds.totalBytes)), 3);
    row.db_round_trips = median(rs.map((r) => r.dbRoundTrips ?? NaN));
    row.idle_cycle_s = round(median(rs.map((r) => r.idle?.wallSeconds ?? NaN)), 3);
  }
  return row;
}

function round(x: number, d: number): number {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

function table(rows: Row[]): string {
  const head = ['dataset', 'endpoint', 'tool', 'wall s', 'MB/s', 'files/s', 'CPU-s', 'peak RSS MB', 'read/byte', 'net read/byte', 'DB RT/session', 'idle cycle s'];
  const lines = rows.map((r) => [
    `${r.dataset} (${r.files}×${human(r.bytes / r.files)})`,
    r.endpoint,
    r.tool,
    r.wall_s.toFixed(2),
    r.mb_per_s.toFixed(0),
    r.files_per_s.toFixed(0),
    r.cpu_s.toFixed(2),
    r.peak_rss_mb.toFixed(0),
    r.read_per_byte.toFixed(2),
    r.read_per_byte_net?.toFixed(3) ?? '',
    r.db_round_trips?.toString() ?? '',
    r.idle_cycle_s?.toFixed(2) ?? '',
  ]);
  return markdown(head, lines);
}

function ratioTable(rows: Row[]): string {
  const head = ['dataset', 'endpoint', 'peer', 'throughput agent/peer', 'CPU-s agent/peer', 'RSS agent/peer'];
  const lines: string[][] = [];
  for (const a of rows.filter((r) => r.tool === 'agent')) {
    for (const p of rows.filter((r) => r.tool !== 'agent' && r.dataset === a.dataset && r.endpoint === a.endpoint)) {
      lines.push([a.dataset, a.endpoint, p.tool, `${(p.wall_s / a.wall_s).toFixed(2)}×`, `${(a.cpu_s / p.cpu_s).toFixed(2)}×`, `${(a.peak_rss_mb / p.peak_rss_mb).toFixed(2)}×`]);
    }
  }
  return markdown(head, lines);
}

function markdown(head: string[], lines: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...lines.map((l) => `| ${l.join(' | ')} |`)].join('\n');
}

function human(n: number): string {
  if (n >= 1024 ** 3) return `${+(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${+(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${+(n / 1024).toFixed(1)} KiB`;
}

async function scanMain(o: Options): Promise<void> {
  await mkdir(o.dataDir, { recursive: true });
  const noop = await startNoopS3();
  try {
    const row = await runScanBench(
      {
        dataDir: o.dataDir,
        runs: o.runs,
        main: agentExecutable(repo),
        env: { ...baseEnv(), AWS_REGION: 'us-east-1', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
        endpoint: noop.endpoint,
        bucket: BUCKET,
        withSchema: (fn) => withSchema(o.databaseUrl, fn),
      },
      parseScanSpec(o.scan),
    );
    console.log(`\nMachine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}, load ${loadavg().map((x) => round(x, 2)).join('/')}\n`);
    console.log(scanTable(row));
    const previous = (await readFile(o.out, 'utf8').then((t) => JSON.parse(t) as Record<string, unknown>).catch(() => ({}))) as Record<string, unknown>;
    await mkdir(dirname(o.out), { recursive: true });
    await writeFile(o.out, `${JSON.stringify({ ...previous, scan: { date: new Date().toISOString(), load: loadavg().map((x) => round(x, 2)), ...row } }, null, 2)}\n`);
    console.log(`\n[bench] wrote ${o.out}`);
  } finally {
    await noop.close();
  }
}

async function main(): Promise<void> {
  const o = options();
  if (o.scan) return scanMain(o);
  const bins: Partial<Record<Tool, string>> = {};
  for (const t of o.tools) {
    if (t === 'agent' || t === 'agent-base') continue;
    const b = which(t);
    if (b) bins[t] = b;
    else console.log(`[bench] ${t} not installed: skipped`);
  }
  const tools = o.tools.filter((t) => t === 'agent' || (bins[t] && !o.shareLatencyUs));
  if (o.shareLatencyUs) console.log(`[bench] share latency ${o.shareLatencyUs} µs per open and read: agent runs only`);
  if (o.baseline) tools.push('agent-base');
  const versions: Record<string, string> = { node: process.version };
  if (bins.rclone) versions.rclone = toolVersion([bins.rclone, 'version']);
  if (bins.aws) versions.aws = toolVersion([bins.aws, '--version']);
  await mkdir(o.dataDir, { recursive: true });
  const work = await mkdtemp(join(o.dataDir, 'work-'));
  if (o.cpuProf) await mkdir(o.cpuProf, { recursive: true });
  const datasets: Dataset[] = [];
  for (const spec of o.datasets) {
    process.stdout.write(`[bench] dataset ${spec.name}: ${spec.files} × ${human(spec.fileSize)}${spec.folders ? ` in ${spec.folders} folders` : ''}… `);
    datasets.push(await ensureDataset(o.dataDir, spec));
    console.log('ready');
  }
  // A freshly generated dataset is still being written back to disk (10 GiB: minutes of it);
  // no timed run should compete with that.
  execFileSync('sync');
  const results: RunResult[] = [];
  const loadBefore = loadavg().map((x) => round(x, 2));
  const noop = o.endpoints.includes('noop') ? await startNoopS3() : null;
  try {
    for (const endpointKind of o.endpoints) {
      for (const ds of datasets) {
        for (let run = 0; run < o.runs; run++) {
          // Alternate: each run starts with a different tool.
          const order = tools.map((_, i) => tools[(i + run) % tools.length] as Tool);
          for (const tool of order) {
            const s3 = endpointKind === 'noop' ? null : await startLocalS3([BUCKET]);
            const endpoint = s3 ? s3.endpoint : (noop as NonNullable<typeof noop>).endpoint;
            const prefix = `${tool}-${ds.name}-${run}-${randomBytes(3).toString('hex')}`;
            try {
              const m = tool === 'agent' || tool === 'agent-base' ? await runAgent(o, work, ds, endpoint, prefix, agentExecutable(tool === 'agent' ? repo : o.baseline)) : await runPeer(tool, bins[tool] as string, work, ds, endpoint, prefix);
              results.push({ ...m, tool, dataset: ds.name, endpoint: endpointKind, run });
              console.log(
                `[bench] ${endpointKind} ${ds.name} run ${run + 1}/${o.runs} ${tool}: ${m.wallSeconds.toFixed(2)} s, ${m.cpuSeconds.toFixed(2)} CPU-s (user ${m.userSeconds.toFixed(2)}, sys ${m.sysSeconds.toFixed(2)}), ${m.peakRssMb.toFixed(0)} MB RSS, read ${(m.rchar / ds.totalBytes).toFixed(3)}/byte` +
                  (tool.startsWith('agent') ? `, DB RT ${(m as RunResult).dbRoundTrips}` : ''),
              );
            } catch (err) {
              console.error(`[bench] ${endpointKind} ${ds.name} run ${run + 1} ${tool}: ${(err as Error).message}`);
            } finally {
              await s3?.close();
            }
          }
        }
      }
    }
  } finally {
    await noop?.close();
    await rm(work, { recursive: true, force: true });
  }
  const rows: Row[] = [];
  for (const endpointKind of o.endpoints) for (const ds of datasets) for (const tool of tools) {
    const r = summarize(results, ds, endpointKind, tool);
    if (r) rows.push(r);
  }
  const machine = {
    nproc: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memory_gb: round(totalmem() / 1024 ** 3, 1),
    node: process.version,
    database: new URL(o.databaseUrl).host,
    // Other work on the machine during the run (1, 5, 15-minute load averages).
    load_before: loadBefore,
    load_after: loadavg().map((x) => round(x, 2)),
  };
  console.log(`\nMachine: ${machine.nproc} × ${machine.cpu}, ${machine.memory_gb} GB, load ${machine.load_before.join('/')} → ${machine.load_after.join('/')}; ${Object.entries(versions).map(([k, v]) => `${k} ${v}`).join('; ')}`);
  console.log('Agent: whole-process `scan-once` that uploads (start-up, SHA-256, DB records, manifest, _COMPLETE included); median of runs.\n');
  console.log(table(rows));
  console.log('\nRatios (throughput > 1: agent faster; CPU and RSS < 1: agent uses less):\n');
  console.log(ratioTable(rows));
  await mkdir(dirname(o.out), { recursive: true });
  // The scan benchmark's result (--scan) is kept.
  const { scan } = (await readFile(o.out, 'utf8').then((t) => JSON.parse(t) as { scan?: unknown }).catch(() => ({}))) as { scan?: unknown };
  await writeFile(
    o.out,
    `${JSON.stringify({ date: new Date().toISOString(), machine, versions, options: { runs: o.runs, datasets: o.datasets, endpoints: o.endpoints, tools, concurrency: o.concurrency || 'default', part_size_mb: o.partSizeMb || 'default' }, rows, ...(scan ? { scan } : {}) }, null, 2)}\n`,
  );
  console.log(`\n[bench] wrote ${o.out}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
