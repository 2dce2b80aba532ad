/**
 * What the pipeline counts. `run` backs it with prom-client and serves it at /metrics
 * (metrics.ts); `scan-once` serves nothing, so it counts nothing and does not load prom-client
 * (≈30 ms of every start).
 */
export interface Metrics {
  sessionsCompleted: { inc(): void };
  sessionFailures: { inc(labels: { code: string }): void };
  errors: { inc(labels: { kind: string }): void };
  filesUploaded: { inc(): void };
  bytesUploaded: { inc(n: number): void };
  uploadDuration: { observe(seconds: number): void };
  uploadThroughput: { observe(bytesPerSecond: number): void };
  cycleDuration: { startTimer(): () => void };
  lastCycleEnd: { setToCurrentTime(): void };
}

const nothing = { inc() {}, observe() {}, setToCurrentTime() {}, startTimer: () => () => {} };

export function uncountedMetrics(): Metrics {
  return {
    sessionsCompleted: nothing,
    sessionFailures: nothing,
    errors: nothing,
    filesUploaded: nothing,
    bytesUploaded: nothing,
    uploadDuration: nothing,
    uploadThroughput: nothing,
    cycleDuration: nothing,
    lastCycleEnd: nothing,
  };
}
