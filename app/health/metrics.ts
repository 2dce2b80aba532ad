import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  sessionsCompleted: Counter;
  sessionFailures: Counter<'code'>;
  filesUploaded: Counter;
  bytesUploaded: Counter;
  cycleDuration: Histogram;
  lastCycleEnd: Gauge;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'uploader_' });
  return {
    registry,
    sessionsCompleted: new Counter({ name: 'uploader_sessions_completed_total', help: 'Sessions whose _COMPLETE marker is in S3', registers: [registry] }),
    sessionFailures: new Counter({ name: 'uploader_session_failures_total', help: 'Failed session attempts by error code', labelNames: ['code'], registers: [registry] }),
    filesUploaded: new Counter({ name: 'uploader_files_uploaded_total', help: 'Files uploaded to S3', registers: [registry] }),
    bytesUploaded: new Counter({ name: 'uploader_bytes_uploaded_total', help: 'Bytes uploaded to S3', registers: [registry] }),
    cycleDuration: new Histogram({
      name: 'uploader_cycle_duration_seconds',
      help: 'Duration of scan cycles',
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 1800],
      registers: [registry],
    }),
    lastCycleEnd: new Gauge({ name: 'uploader_last_cycle_end_timestamp_seconds', help: 'When the last scan cycle ended', registers: [registry] }),
  };
}
