import type { Deps } from '../deps.js';
import { readBacklog, type Backlog } from '../state/queries/backlog.js';

export const BACKLOG_NAMESPACE = 'LabDataUploader';
/** How often each agent reports: the resolution of the metric the ECS service scales on. */
export const BACKLOG_INTERVAL_MS = 60_000;

export interface BacklogDimensions {
  LabId: string;
  MachineId: string;
}

/**
 * One log line in CloudWatch's embedded metric format: CloudWatch Logs (the awslogs driver)
 * extracts SessionsWaiting and BytesWaiting from it, and platform/autoscaling.tf scales the
 * service on SessionsWaiting. Every agent reads the same database, so all report the same values.
 */
export function backlogEmf(backlog: Backlog, dimensions: BacklogDimensions, at: Date): Record<string, unknown> {
  return {
    _aws: {
      Timestamp: at.getTime(),
      CloudWatchMetrics: [
        {
          Namespace: BACKLOG_NAMESPACE,
          Dimensions: [Object.keys(dimensions)],
          Metrics: [
            { Name: 'SessionsWaiting', Unit: 'Count' },
            { Name: 'BytesWaiting', Unit: 'Bytes' },
          ],
        },
      ],
    },
    ...dimensions,
    SessionsWaiting: backlog.sessions,
    BytesWaiting: backlog.bytes,
  };
}

/**
 * Logs the backlog every `everyMs` until `signal` aborts. On a timer rather than at the end of
 * a cycle: a cycle lasts as long as its longest upload, and a burst of sessions arriving
 * meanwhile is exactly when the service should scale out. A failed read skips one report.
 */
export function publishBacklogEvery(deps: Pick<Deps, 'db' | 'config' | 'clock' | 'logger'>, signal: AbortSignal, everyMs = BACKLOG_INTERVAL_MS): void {
  if (signal.aborted) return;
  const dimensions = { LabId: deps.config.agent.lab_id, MachineId: deps.config.agent.machine_id };
  let reading = false;
  const publish = async () => {
    if (reading) return;
    reading = true;
    try {
      const now = deps.clock.now();
      deps.logger.info({ event: 'upload_backlog', ...backlogEmf(await readBacklog(deps.db, now), dimensions, now) }, 'upload backlog');
    } catch (err) {
      deps.logger.warn({ event: 'upload_backlog_unavailable', err }, 'could not read the upload backlog; skipped this report');
    } finally {
      reading = false;
    }
  };
  const timer = setInterval(() => void publish(), everyMs);
  timer.unref(); // never what keeps the process alive
  signal.addEventListener('abort', () => clearInterval(timer), { once: true });
}
