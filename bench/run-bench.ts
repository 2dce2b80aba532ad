/**
 * `npm run bench`: the agent's real CLI against rclone (defaults, and `--transfers 16
 * --checkers 16` as `rclone16`) and the AWS CLI, same data, same endpoint, alternating runs.
 * Not a test: it prints tables and writes bench/results/latest.json. Flags (or BENCH_*
 * environment variables):
 *   --runs 3                      full runs; each run times every tool once, starting with a different one
 *   --datasets big=4x256M,...     name=COUNTxSIZE[/FOLDERS]; default big=4x256M,
 *                                 small=5000x16K/50, tiny=5x16K
 *   --quick                       2 runs of big=4x16M, small=300x16K/10, tiny=5x16K (about 2 minutes)
 *   --endpoints noop,wan          noop: in-process sink that discards bodies; wan: the same sink at the
 *                                 far end of a long link (--latency-ms 40 added to every response,
 *                                 --link-mbps 200 shared by all connections); s3rver: a real server
 *   --tools agent,rclone,rclone16,aws   a missing peer is reported and left out
 *   --concurrency N --part-size-mb N   agent upload settings (defaults: the agent's)
 *   --baseline DIR                also run the agent built in DIR (a worktree of an older commit) as `agent-base`
 *   --cpu-prof DIR                write a V8 CPU profile of every timed agent run to DIR
 *   --load-core                   also time the idle scan-once while a busy loop holds one core
 *   --data-dir /tmp/lab-bench     where datasets are generated (kept between runs)
 *   --out bench/results/latest.json
 *   --share-latency-us N          the agent reads the share through tests/fault/native/fsfault.c, every
 *                                 open, read and close taking N µs more (an NFS round trip); peers
 *                                 are not slowed by it (Go and Python bypass the C library), so
 *                                 only agent runs are made.
 *   --share nfs                   the agent reads the datasets over NFS in user space, from nfs-ganesha
 *                                 exporting --data-dir on loopback (needs root; agent runs only:
 *                                 bench/nfs-share-bench.ts compares with libnfs's read floor)
 *   --scan 1000x100               only the scan-cost benchmark (scan-bench.ts), merged into --out as `scan`
 *   --scale                       only the scale scenarios (scale-bench.ts), merged into --out as `scale`:
 *                                 --scale-files 100000 (0: skip), --sparse-size 1T (0: skip)
 *
 * Reported: per tool, medians of the runs (wall, CPU user+sys, CPU per file, peak RSS, bytes
 * read; on wan the share of the link). Per dataset × endpoint × peer, the agent/peer ratios of
 * each run pair (run i of both), with the MINIMUM throughput ratio as the headline and the
 * median beside it. The idle `scan-once` (empty root: start-up alone) five times, first.
 * The agent is timed as a whole process, `uploader-agent scan-once` in the cycle that uploads
 * (agent-run.ts); every tool runs under the same wrapper (measure.ts).
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLocalS3 } from '../demo/local-s3.js';
import { agentExecutable, runAgent, withSchema, type AgentSettings } from './agent-run.js';
import { ensureDataset, parseDatasets, parseSize, type Dataset } from './datasets.js';
import { runIdleBench, type IdleResult } from './idle-bench.js';
import type { Measured } from './measure.js';
import { startNoopS3, type NoopS3 } from './noop-s3.js';
import { baseEnv, findPeers, isPeer, peerVersions, runPeer } from './peers.js';
import { ratioRow, round, summarize, type EndpointKind, type RatioRow, type Row, type RunSample, type Tool } from './ratios.js';
import { human, idleTable, ratioTable, resultTable, scaleTable } from './report.js';
import { runScaleBench } from './scale-bench.js';
import { parseScanSpec, runScanBench, scanTable } from './scan-bench.js';
import { Ganesha } from '../tests/helpers/nfs-server.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const BUCKET = 'bench';

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
  const list = <T extends string>(name: string, fallback: string, allowed: readonly T[]): T[] => {
    const items = flag(name, fallback).split(',').filter(Boolean);
    const wrong = items.filter((x) => !(allowed as readonly string[]).includes(x));
    if (wrong.length) throw new Error(`--${name}: unknown ${wrong.join(', ')} (known: ${allowed.join(', ')})`);
    return items as T[];
  };
  const bool = (name: string) => args.includes(`--${name}`) || process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`] === '1';
  const quick = bool('quick');
  return {
    runs: Number(flag('runs', quick ? '2' : '3')),
    datasets: parseDatasets(flag('datasets', quick ? 'big=4x16M,small=300x16K/10,tiny=5x16K' : 'big=4x256M,small=5000x16K/50,tiny=5x16K')),
    endpoints: list<EndpointKind>('endpoints', 'noop,wan', ['noop', 'wan', 's3rver']),
    tools: list<Tool>('tools', 'agent,rclone,rclone16,aws', ['agent', 'rclone', 'rclone16', 'aws']),
    latencyMs: Number(flag('latency-ms', '40')),
    linkMbps: Number(flag('link-mbps', '200')),
    concurrency: flag('concurrency', ''),
    partSizeMb: flag('part-size-mb', ''),
    cpuProf: flag('cpu-prof', ''),
    baseline: flag('baseline', ''),
    loadCore: bool('load-core'),
    dataDir: flag('data-dir', '/tmp/lab-bench'),
    out: flag('out', join(repo, 'bench', 'results', 'latest.json')),
    scan: flag('scan', ''),
    scale: bool('scale'),
    scaleFiles: Number(flag('scale-files', '100000')),
    sparseBytes: parseSize(flag('sparse-size', '1T')),
    shareLatencyUs: Number(flag('share-latency-us', '0')),
    share: list<'local' | 'nfs'>('share', 'local', ['local', 'nfs']).includes('nfs') ? 'nfs' : 'local',
    databaseUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  };
}
type Options = ReturnType<typeof options>;

function agentSettings(o: Options, nfsExport = ''): AgentSettings {
  return {
    repo,
    databaseUrl: o.databaseUrl,
    bucket: BUCKET,
    concurrency: o.concurrency,
    partSizeMb: o.partSizeMb,
    cpuProf: o.cpuProf,
    dataDir: o.dataDir,
    shareLatencyUs: o.shareLatencyUs,
    nfsExport,
  };
}

function machineLine(): string {
  return `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}, ${round(totalmem() / 1024 ** 3, 1)} GB, load ${loadavg()
    .map((x) => round(x, 2))
    .join('/')}`;
}

/** Writes `section` into --out, keeping the other sections (a full run, --scan, --scale). */
async function mergeOut(out: string, section: Record<string, unknown>): Promise<void> {
  const previous = (await readFile(out, 'utf8')
    .then((t) => JSON.parse(t) as Record<string, unknown>)
    .catch(() => ({}))) as Record<string, unknown>;
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify({ ...previous, ...section }, null, 2)}\n`);
  console.log(`\n[bench] wrote ${out}`);
}

async function scanMain(o: Options): Promise<void> {
  await mkdir(o.dataDir, { recursive: true });
  const noop = await startNoopS3();
  try {
    const env = { ...baseEnv(), AWS_REGION: 'us-east-1', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
    const row = await runScanBench(
      {
        dataDir: o.dataDir,
        runs: o.runs,
        main: agentExecutable(repo),
        env,
        endpoint: noop.endpoint,
        bucket: BUCKET,
        withSchema: (fn) => withSchema(o.databaseUrl, fn),
      },
      parseScanSpec(o.scan),
    );
    console.log(`\n${machineLine()}\n`);
    console.log(scanTable(row));
    await mergeOut(o.out, { scan: { date: new Date().toISOString(), load: loadavg().map((x) => round(x, 2)), ...row } });
  } finally {
    await noop.close();
  }
}

async function scaleMain(o: Options): Promise<void> {
  await mkdir(o.dataDir, { recursive: true });
  const work = await mkdtemp(join(o.dataDir, 'work-'));
  const loadBefore = loadavg().map((x) => round(x, 2));
  try {
    const result = await runScaleBench(agentSettings(o), work, agentExecutable(repo), { files: o.scaleFiles, sparseBytes: o.sparseBytes });
    console.log(`\n${machineLine()} (before: ${loadBefore.join('/')})\n`);
    console.log(scaleTable(result));
    await mergeOut(o.out, { scale: { date: new Date().toISOString(), load_before: loadBefore, load_after: loadavg().map((x) => round(x, 2)), ...result } });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function timedRun(
  o: Options,
  tool: Tool,
  bins: Partial<Record<Tool, string>>,
  work: string,
  ds: Dataset,
  endpoint: string,
  prefix: string,
  nfsExport: string,
): Promise<Measured & Partial<RunSample>> {
  if (tool === 'agent' || tool === 'agent-base') {
    const r = await runAgent(agentSettings(o, nfsExport), work, ds, endpoint, prefix, agentExecutable(tool === 'agent' ? repo : o.baseline));
    return { ...r, idle: { wallSeconds: r.idle.wallSeconds, rchar: r.idle.rchar } };
  }
  return runPeer(tool, bins[tool] as string, work, ds.sessionDir, endpoint, BUCKET, prefix);
}

async function main(): Promise<void> {
  const o = options();
  if (o.scan) return scanMain(o);
  if (o.scale) return scaleMain(o);
  const { bins, missing } = findPeers(o.tools.filter(isPeer));
  for (const m of missing)
    console.log(`[bench] PEER MISSING: ${m.tool} (\`${m.binary}\` is not on PATH; install: ${m.install}): its runs and ratios are left out`);
  if (o.shareLatencyUs) console.log(`[bench] share latency ${o.shareLatencyUs} µs per open and read: agent runs only`);
  if (o.share === 'nfs') console.log('[bench] share nfs: the agent reads the datasets from nfs-ganesha on loopback; agent runs only');
  const tools = o.tools.filter((t) => t === 'agent' || (isPeer(t) && bins[t] && !o.shareLatencyUs && o.share === 'local'));
  if (o.baseline) tools.push('agent-base');
  const versions: Record<string, string> = { node: process.version, ...peerVersions(bins) };
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
  const wan = { latency_ms: o.latencyMs, link_mbps: o.linkMbps };
  if (o.endpoints.includes('wan'))
    console.log(`[bench] wan: the no-op sink with ${o.latencyMs} ms added to every response and one ${o.linkMbps} Mbit/s cap shared by all connections`);
  const results: RunSample[] = [];
  const loadBefore = loadavg().map((x) => round(x, 2));
  const sinks = new Map<EndpointKind, NoopS3>();
  let idle: IdleResult | undefined;
  let ganesha: Ganesha | null = null;
  try {
    if (o.share === 'nfs') ganesha = await Ganesha.start({ exportDir: o.dataDir });
    const nfsExport = ganesha ? ganesha.url : '';
    sinks.set('noop', await startNoopS3());
    if (o.endpoints.includes('wan')) sinks.set('wan', await startNoopS3({ latencyMs: o.latencyMs, linkMbps: o.linkMbps }));
    idle = await runIdleBench(agentSettings(o), work, agentExecutable(repo), (sinks.get('noop') as NoopS3).endpoint, o.loadCore);
    for (const endpointKind of o.endpoints) {
      for (const ds of datasets) {
        for (let run = 0; run < o.runs; run++) {
          // Alternate: each run starts with a different tool.
          const order = tools.map((_, i) => tools[(i + run) % tools.length] as Tool);
          for (const tool of order) {
            const s3 = endpointKind === 's3rver' ? await startLocalS3([BUCKET]) : null;
            const endpoint = s3 ? s3.endpoint : (sinks.get(endpointKind) as NoopS3).endpoint;
            const prefix = `${tool}-${ds.name}-${run}-${randomBytes(3).toString('hex')}`;
            try {
              const m = await timedRun(o, tool, bins, work, ds, endpoint, prefix, nfsExport);
              results.push({
                tool,
                dataset: ds.name,
                endpoint: endpointKind,
                run,
                wallSeconds: m.wallSeconds,
                cpuSeconds: m.cpuSeconds,
                peakRssMb: m.peakRssMb,
                rchar: m.rchar,
                idle: m.idle,
                dbRoundTrips: m.dbRoundTrips,
              });
              console.log(
                `[bench] ${endpointKind} ${ds.name} run ${run + 1}/${o.runs} ${tool}: ${m.wallSeconds.toFixed(2)} s, ${m.cpuSeconds.toFixed(2)} CPU-s (user ${m.userSeconds.toFixed(2)}, sys ${m.sysSeconds.toFixed(2)}), ${m.peakRssMb.toFixed(0)} MB RSS, read ${(m.rchar / ds.totalBytes).toFixed(3)}/byte` +
                  (tool.startsWith('agent') ? `, DB RT ${m.dbRoundTrips}` : ''),
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
    for (const sink of sinks.values()) await sink.close();
    await ganesha?.stop();
    await rm(work, { recursive: true, force: true });
  }
  const rows: Row[] = [];
  const ratios: RatioRow[] = [];
  for (const endpointKind of o.endpoints) {
    for (const ds of datasets) {
      for (const tool of tools) {
        const r = summarize(results, ds, endpointKind, tool, endpointKind === 'wan' ? o.linkMbps : undefined);
        if (r) rows.push(r);
        const ratio = tool === 'agent' ? null : ratioRow(results, ds.name, endpointKind, tool);
        if (ratio) ratios.push(ratio);
      }
    }
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
  console.log(
    `\nMachine: ${machine.nproc} × ${machine.cpu}, ${machine.memory_gb} GB, load ${machine.load_before.join('/')} → ${machine.load_after.join('/')}; ${Object.entries(
      versions,
    )
      .map(([k, v]) => `${k} ${v}`)
      .join('; ')}`,
  );
  console.log(
    `Agent: whole-process \`scan-once\` that uploads (start-up, SHA-256, DB records, manifest, _COMPLETE included); medians of ${o.runs} runs.${o.endpoints.includes('wan') ? ` wan: ${o.latencyMs} ms per response, ${o.linkMbps} Mbit/s shared.` : ''}\n`,
  );
  console.log(resultTable(rows));
  console.log(
    `\nRatios per run pair (run i of the agent against run i of the peer); the headline is the MINIMUM throughput ratio (> 1: agent faster; CPU and RSS < 1: agent uses less):\n`,
  );
  console.log(ratioTable(ratios));
  if (idle) console.log(`\nStart-up:\n\n${idleTable(idle)}`);
  if (missing.length) console.log(`\nPEERS MISSING (not compared): ${missing.map((m) => `${m.tool} (install: ${m.install})`).join(', ')}`);
  await mergeOut(o.out, {
    date: new Date().toISOString(),
    machine,
    versions,
    options: {
      runs: o.runs,
      datasets: o.datasets,
      endpoints: o.endpoints,
      wan,
      tools,
      share: o.share,
      concurrency: o.concurrency || 'default',
      part_size_mb: o.partSizeMb || 'default',
    },
    missing_peers: missing.map((m) => m.tool),
    idle,
    rows,
    ratios,
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
