/**
 * Scale scenarios (`npm run bench -- --scale`), agent only, each against a fresh no-op sink:
 * - one session of `files` 1 KiB files in 100 folders, end to end (manifest, DB records,
 *   `_COMPLETE`): wall time, peak RSS, DB round trips of the session;
 * - one sparse file of `sparseBytes` (created with truncate: no disk used, but every byte is
 *   still read and hashed, so a 1 TiB file costs CPU-minutes): peak RSS, and the parts the
 *   sink received (count and size), against S3's 10,000-part limit.
 */
import { randomBytes } from 'node:crypto';
import { runAgent, type AgentRun, type AgentSettings } from './agent-run.js';
import { ensureDataset, ensureSparseDataset, type Dataset } from './datasets.js';
import { startNoopS3 } from './noop-s3.js';
import { round } from './ratios.js';

export interface ScaleSpec {
  /** Files of the many-files session (0: skip). */
  files: number;
  /** Bytes of the sparse file (0: skip). */
  sparseBytes: number;
}

export interface ScaleFigures {
  files: number;
  bytes: number;
  wall_s: number;
  cpu_s: number;
  peak_rss_mb: number;
  db_round_trips: number | undefined;
  /** The observing scan-once before the upload (lists every file). */
  observe_s: number;
}

export interface SparseFigures extends ScaleFigures {
  parts: number;
  /** The largest part received (every part but the last has this size). */
  part_size_bytes: number;
  /** Part size (bytes) → parts of that size. */
  part_sizes: Record<string, number>;
}

export interface ScaleResult {
  many_files?: ScaleFigures;
  sparse?: SparseFigures;
}

export const SCALE_GOALS = { manyFilesRssMb: 300, manyFilesRoundTrips: 100, sparseRssMb: 200, maxParts: 10_000 };

export async function runScaleBench(s: AgentSettings, work: string, main: string, spec: ScaleSpec): Promise<ScaleResult> {
  const result: ScaleResult = {};
  if (spec.files > 0) {
    process.stdout.write(`[bench] scale dataset: ${spec.files} × 1 KiB in 100 folders… `);
    const ds = await ensureDataset(s.dataDir, { name: `scale-${spec.files}`, files: spec.files, fileSize: 1024, folders: 100 });
    console.log('ready');
    const { run } = await upload(s, work, main, ds);
    result.many_files = figures(ds, run);
    console.log(`[bench] scale ${spec.files} files: ${run.wallSeconds.toFixed(1)} s, ${run.peakRssMb.toFixed(0)} MB peak RSS, DB RT ${run.dbRoundTrips}`);
  }
  if (spec.sparseBytes > 0) {
    const ds = await ensureSparseDataset(s.dataDir, spec.sparseBytes);
    console.log(`[bench] scale sparse file of ${spec.sparseBytes} bytes: uploading (every byte is read and hashed)…`);
    const { run, partSizes } = await upload(s, work, main, ds);
    const sizes = Object.keys(partSizes).map(Number);
    result.sparse = {
      ...figures(ds, run),
      parts: Object.values(partSizes).reduce((a, b) => a + b, 0),
      part_size_bytes: sizes.length ? Math.max(...sizes) : 0,
      part_sizes: partSizes,
    };
    console.log(`[bench] scale sparse: ${run.wallSeconds.toFixed(1)} s, ${run.peakRssMb.toFixed(0)} MB peak RSS, ${result.sparse.parts} parts`);
  }
  return result;
}

async function upload(s: AgentSettings, work: string, main: string, ds: Dataset): Promise<{ run: AgentRun; partSizes: Record<string, number> }> {
  const sink = await startNoopS3();
  try {
    const run = await runAgent(s, work, ds, sink.endpoint, `scale-${randomBytes(3).toString('hex')}`, main);
    return { run, partSizes: sink.stats().partSizes };
  } finally {
    await sink.close();
  }
}

function figures(ds: Dataset, run: AgentRun): ScaleFigures {
  return {
    files: ds.files,
    bytes: ds.totalBytes,
    wall_s: round(run.wallSeconds, 2),
    cpu_s: round(run.cpuSeconds, 2),
    peak_rss_mb: round(run.peakRssMb, 0),
    db_round_trips: run.dbRoundTrips,
    observe_s: round(run.idle.wallSeconds, 2),
  };
}
