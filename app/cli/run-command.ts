import { livenessCheck } from '../health/liveness.js';
import { createMetrics, registerStateGauge } from '../health/metrics.js';
import { startHealthServer } from '../health/server.js';
import { startLoop } from '../scheduler.js';
import { watchRoots, watchableRoots } from '../watcher.js';
import { CliExit, EXIT } from './exit-codes.js';
import { openRuntime } from './runtime.js';

/** In-flight work gets this long after SIGTERM; ECS waits 30 s before SIGKILL. */
const DRAIN_MS = 25_000;

export async function runCommand(configFile: string): Promise<number> {
  const metrics = createMetrics();
  const rt = await openRuntime(configFile, { stream: 'stdout', checkS3: true, metrics });
  const { deps } = rt;
  const port = Number(process.env.PORT ?? deps.config.agent.health_port ?? 8000);
  const interval = deps.config.agent.scan_interval_seconds;
  const startedAt = Date.now();
  registerStateGauge(metrics, deps.db);
  const loop = startLoop(deps);
  const watcher = watchRoots(deps.config, watchableRoots(deps.config, rt.mounts), deps.logger, () => loop.wake());
  let health;
  try {
    health = await startHealthServer(
      port,
      { problem: livenessCheck({ db: deps.db, intervalSeconds: interval, startedAt, lastCycleEnd: loop.lastCycleEndedAt }) },
      metrics,
    );
  } catch (err) {
    loop.stop();
    await loop.done;
    await watcher?.close();
    await rt.close();
    throw new CliExit(EXIT.usage, `cannot serve /health on port ${port}: ${(err as Error).message}`);
  }
  deps.logger.info({ event: 'agent_started', agent_id: deps.agentId, port: health.port, db: deps.db.kind, roots: deps.config.watch.session_roots.map((r) => r.path) }, 'agent started');

  const stop = (signal: string) => {
    deps.logger.info({ event: 'agent_stopping', signal }, 'stopping: no new work; in-flight work is checkpointed');
    loop.stop();
    setTimeout(() => {
      deps.logger.error({ event: 'agent_stop_timeout' }, 'in-flight work did not stop in time; exiting');
      rt.logs.flush();
      process.exit(EXIT.ok);
    }, DRAIN_MS).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  await loop.done;
  await watcher?.close();
  await health.close();
  deps.logger.info({ event: 'agent_stopped' }, 'agent stopped');
  await rt.close();
  return EXIT.ok;
}
