import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Db } from '../state/db.js';
import type { Metrics } from './metrics-api.js';

/** The pipeline's metrics in a prom-client registry, for /metrics. */
export interface ServedMetrics extends Metrics {
  registry: Registry;
}

export function createMetrics(): ServedMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'uploader_' });
  const lastCycleEnd = new Gauge({
    name: 'uploader_last_cycle_end_timestamp_seconds',
    help: 'When the last scan cycle ended (Unix time)',
    registers: [registry],
  });
  new Gauge({
    name: 'uploader_seconds_since_last_cycle',
    help: 'Seconds since the last scan cycle ended (since start when none has)',
    registers: [registry],
    async collect() {
      const last = (await lastCycleEnd.get()).values[0]?.value;
      this.set(last ? Date.now() / 1000 - last : process.uptime());
    },
  });
  return {
    registry,
    sessionsCompleted: new Counter({ name: 'uploader_sessions_completed_total', help: 'Sessions whose _COMPLETE marker is in S3', registers: [registry] }),
    sessionFailures: new Counter({
      name: 'uploader_session_failures_total',
      help: 'Failed session attempts by error code',
      labelNames: ['code'],
      registers: [registry],
    }),
    errors: new Counter({
      name: 'uploader_errors_total',
      help: 'Errors by kind (s3, s3_access, s3_unreachable, db, fs, session, lease, internal)',
      labelNames: ['kind'],
      registers: [registry],
    }),
    filesUploaded: new Counter({ name: 'uploader_files_uploaded_total', help: 'Files uploaded to S3', registers: [registry] }),
    bytesUploaded: new Counter({ name: 'uploader_bytes_uploaded_total', help: 'Bytes uploaded to S3', registers: [registry] }),
    uploadDuration: new Histogram({
      name: 'uploader_session_upload_duration_seconds',
      help: 'Time from upload start to _COMPLETE, per session',
      buckets: [1, 5, 15, 60, 300, 900, 3600, 14400],
      registers: [registry],
    }),
    uploadThroughput: new Histogram({
      name: 'uploader_session_upload_throughput_bytes_per_second',
      help: 'Bytes per second of each session upload',
      buckets: [1e5, 1e6, 5e6, 1e7, 5e7, 1e8, 5e8, 1e9],
      registers: [registry],
    }),
    cycleDuration: new Histogram({
      name: 'uploader_cycle_duration_seconds',
      help: 'Duration of scan cycles',
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 1800],
      registers: [registry],
    }),
    lastCycleEnd,
  };
}

/** Sessions by state, read from the state database at each scrape. */
export function registerStateGauge(metrics: ServedMetrics, db: Db): void {
  new Gauge({
    name: 'uploader_sessions',
    help: 'Sessions in the state database by state',
    labelNames: ['state'],
    registers: [metrics.registry],
    async collect() {
      const res = await db.query<{ status: string; n: string }>('SELECT status, count(*) AS n FROM uploader_sessions GROUP BY status');
      this.reset();
      for (const r of res.rows) this.set({ state: r.status }, Number(r.n));
    },
  });
}
