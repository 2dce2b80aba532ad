/**
 * Start-up: `scan-once` with nothing to do (a configured, empty session root), whole process,
 * after a first run that creates the schema. Optionally again while a busy loop holds one
 * core (a host whose second core is taken by other work).
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { agentEnv, withSchema, writeAgentConfig, type AgentSettings } from './agent-run.js';
import { measure, median, nodeFlagsOf, type Measured } from './measure.js';
import { round, spread, type Spread } from './ratios.js';

const IDLE_RUNS = 5;

export interface IdleFigures {
  runs: number;
  wall_s: Spread;
  cpu_s: number;
  peak_rss_mb: number;
}

export interface IdleResult {
  quiet: IdleFigures;
  /** With a busy loop on one core (--load-core). */
  loaded_core?: IdleFigures;
}

export async function runIdleBench(s: AgentSettings, work: string, main: string, endpoint: string, loadCore: boolean): Promise<IdleResult> {
  const dir = await mkdtemp(join(work, 'idle-'));
  const root = join(dir, 'empty-root');
  await mkdir(root);
  const configFile = await writeAgentConfig(s, dir, root, endpoint, 'idle');
  try {
    return await withSchema(s.databaseUrl, async (url) => {
      const argv = [process.execPath, ...(await nodeFlagsOf(main)), main, 'scan-once', '--config', configFile];
      const env = agentEnv(url);
      const timed = async (label: string): Promise<IdleFigures> => {
        const ms: Measured[] = [];
        for (let i = 0; i < IDLE_RUNS; i++) {
          const m = await measure(work, argv, env);
          if (m.code !== 0) throw new Error(`idle scan-once failed (${m.code}): ${m.stderr}${m.stdout.slice(-2000)}`);
          console.log(`[bench] idle scan-once ${label} ${i + 1}/${IDLE_RUNS}: ${m.wallSeconds.toFixed(3)} s, ${m.cpuSeconds.toFixed(2)} CPU-s`);
          ms.push(m);
        }
        return {
          runs: ms.length,
          wall_s: roundSpread(spread(ms.map((m) => m.wallSeconds)) as Spread),
          cpu_s: round(median(ms.map((m) => m.cpuSeconds)), 3),
          peak_rss_mb: round(median(ms.map((m) => m.peakRssMb)), 0),
        };
      };
      const first = await measure(work, argv, env);
      if (first.code !== 0) throw new Error(`first scan-once failed (${first.code}): ${first.stderr}${first.stdout.slice(-2000)}`);
      const quiet = await timed('(quiet)');
      if (!loadCore) return { quiet };
      return { quiet, loaded_core: await withBusyCore(() => timed('(one core busy)')) };
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function withBusyCore<T>(fn: () => Promise<T>): Promise<T> {
  const busy = spawn(process.execPath, ['-e', 'for (;;);'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => busy.on('exit', () => resolve()));
  try {
    return await fn();
  } finally {
    busy.kill('SIGKILL');
    await exited;
  }
}

function roundSpread(s: Spread): Spread {
  return { n: s.n, min: round(s.min, 3), median: round(s.median, 3), max: round(s.max, 3) };
}
