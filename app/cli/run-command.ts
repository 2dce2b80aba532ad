import { livenessCheck } from '../health/liveness.js';
import { createMetrics, registerStateGauge } from '../health/metrics.js';
import { startHealthServer } from '../health/server.js';
import { startLoop, type Loop } from '../scheduler.js';
import { watchRoots, watchableRoots } from '../watcher.js';
import { CliExit, EXIT } from './exit-codes.js';
import { openRuntime, readConfig } from './runtime.js';

/** In-flight work gets this long after SIGTERM; ECS waits 30 s before SIGKILL. */
const DRAIN_MS = 25_000;

/**
 * `run`: /health and /metrics first, so an orchestrator sees why the agent is not working
 * yet; then the state database (waited for) and S3 (uploads paused until it accepts the
 * agent); then the loop. Only what waiting cannot fix ends it early.
 */
export async function runCommand(configFile: string): Promise<number> {
  const config = await readConfig(configFile);
  const metrics = createMetrics();
  const port = Number(process.env.PORT ?? config.agent.health_port ?? 8000);
  let bootProblem: string | null = 'starting';
  let problem: () => Promise<string | null> = () => Promise.resolve(bootProblem);
  const health = await startHealthServer(port, { problem: () => problem() }, metrics).catch((err: Error) => {
    throw new CliExit(EXIT.usage, `cannot serve /health on port ${port}: ${err.message}`);
  });

  const stopping = new AbortController();
  const running: { loop?: Loop } = {};
  let rt: Awaited<ReturnType<typeof openRuntime>> | undefined;
  const stop = (signal: string) => {
    rt?.deps.logger.info({ event: 'agent_stopping', signal }, 'stopping: no new work; in-flight work is checkpointed');
    stopping.abort();
    running.loop?.stop();
    setTimeout(() => {
      rt?.deps.logger.error({ event: 'agent_stop_timeout' }, 'in-flight work did not stop in time; exiting');
      rt?.logs.flush();
      process.exit(EXIT.ok);
    }, DRAIN_MS).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  try {
    rt = await openRuntime(config, {
      stream: 'stdout',
      checkS3: true,
      metrics,
      serveEmbeddedDb: true,
      wait: { signal: stopping.signal, report: (p) => void (bootProblem = p) },
    });
  } catch (err) {
    await health.close();
    if (stopping.signal.aborted) return EXIT.ok;
    throw err;
  }
  const { deps } = rt;
  registerStateGauge(metrics, deps.db);
  const started = startLoop(deps);
  running.loop = started;
  const liveness = livenessCheck({
    db: deps.db,
    intervalSeconds: config.agent.scan_interval_seconds,
    startedAt: Date.now(),
    lastCycleEnd: started.lastCycleEndedAt,
  });
  problem = async () => (await liveness()) ?? deps.s3Access.reason();
  const watcher = watchRoots(config, watchableRoots(config, rt.mounts), deps.logger, () => started.wake());
  deps.logger.info(
    { event: 'agent_started', agent_id: deps.agentId, port: health.port, db: deps.db.kind, roots: config.watch.session_roots.map((r) => r.path) },
    'agent started',
  );
  if (stopping.signal.aborted) started.stop();

  await started.done;
  await watcher?.close();
  await health.close();
  deps.logger.info({ event: 'agent_stopped' }, 'agent stopped');
  await rt.close();
  return EXIT.ok;
}
