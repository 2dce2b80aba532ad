/**
 * Pure summaries of the benchmark's runs: one row per tool, and agent-to-peer ratios taken
 * run by run (run i of the agent against run i of the peer, which ran next to it), so a
 * slow stretch of the machine lands on both sides of a pair. The headline is the minimum
 * ratio over the pairs: the figure a user can count on, not the best run's.
 */
import { median } from './measure.js';

export type PeerTool = 'rclone' | 'rclone16' | 'aws';
export type Tool = 'agent' | 'agent-base' | PeerTool;
export type EndpointKind = 'noop' | 'wan' | 's3rver';

export interface RunSample {
  tool: Tool;
  dataset: string;
  endpoint: EndpointKind;
  run: number;
  wallSeconds: number;
  cpuSeconds: number;
  peakRssMb: number;
  rchar: number;
  /** Agent only: the observing scan-once before the timed one. */
  idle?: { wallSeconds: number; rchar: number };
  dbRoundTrips?: number;
}

export interface DatasetSize {
  name: string;
  files: number;
  totalBytes: number;
}

export interface Spread {
  n: number;
  min: number;
  median: number;
  max: number;
}

export function spread(xs: number[]): Spread | null {
  const ok = xs.filter(Number.isFinite);
  if (ok.length === 0) return null;
  return { n: ok.length, min: Math.min(...ok), median: median(ok), max: Math.max(...ok) };
}

/** The runs both tools made, paired by run index (a failed run leaves its pair out). */
export function pairRuns(samples: RunSample[], dataset: string, endpoint: EndpointKind, agent: Tool, peer: Tool): [RunSample, RunSample][] {
  const of = (tool: Tool) => new Map(samples.filter((s) => s.tool === tool && s.dataset === dataset && s.endpoint === endpoint).map((s) => [s.run, s]));
  const a = of(agent);
  const p = of(peer);
  return [...a.keys()]
    .sort((x, y) => x - y)
    .filter((run) => p.has(run))
    .map((run) => [a.get(run) as RunSample, p.get(run) as RunSample]);
}

export interface RatioRow {
  dataset: string;
  endpoint: EndpointKind;
  peer: Tool;
  /** Agent throughput ÷ peer throughput (= peer wall ÷ agent wall; > 1: agent faster), per pair. */
  throughput: Spread;
  /** Agent CPU ÷ peer CPU (< 1: agent uses less), per pair; same files, so also the ratio of CPU per file. */
  cpu: Spread;
  /** Agent peak RSS ÷ peer peak RSS, per pair. */
  rss: Spread;
}

export function ratioRow(samples: RunSample[], dataset: string, endpoint: EndpointKind, peer: Tool, agent: Tool = 'agent'): RatioRow | null {
  const pairs = pairRuns(samples, dataset, endpoint, agent, peer);
  const throughput = spread(pairs.map(([a, p]) => p.wallSeconds / a.wallSeconds));
  const cpu = spread(pairs.map(([a, p]) => a.cpuSeconds / p.cpuSeconds));
  const rss = spread(pairs.map(([a, p]) => a.peakRssMb / p.peakRssMb));
  if (!throughput || !cpu || !rss) return null;
  return { dataset, endpoint, peer, throughput, cpu, rss };
}

/** CPU (user + sys) per file, milliseconds. */
export function cpuMsPerFile(cpuSeconds: number, files: number): number {
  return (cpuSeconds * 1000) / files;
}

/** Throughput as a percentage of a link of `mbps` Mbit/s. */
export function linkPercent(bytes: number, wallSeconds: number, mbps: number): number {
  return (bytes * 8 * 100) / (wallSeconds * mbps * 1e6);
}

export interface Row {
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
  cpu_ms_per_file: number;
  peak_rss_mb: number;
  read_per_byte: number;
  /** Shaped endpoint only: throughput as % of the link, median and worst run. */
  link_pct?: number;
  link_pct_min?: number;
  /** Agent: rchar of the timed run minus that of the observing run (start-up reads: JS modules). */
  read_per_byte_net?: number;
  db_round_trips?: number;
  idle_cycle_s?: number;
  runs_wall_s: number[];
}

/** Medians over one tool's runs of one dataset on one endpoint; `linkMbps` for a shaped endpoint. */
export function summarize(samples: RunSample[], ds: DatasetSize, endpoint: EndpointKind, tool: Tool, linkMbps?: number): Row | null {
  const rs = samples.filter((r) => r.dataset === ds.name && r.endpoint === endpoint && r.tool === tool);
  if (rs.length === 0) return null;
  const wall = median(rs.map((r) => r.wallSeconds));
  const cpu = median(rs.map((r) => r.cpuSeconds));
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
    cpu_s: round(cpu, 2),
    cpu_ms_per_file: round(cpuMsPerFile(cpu, ds.files), 3),
    peak_rss_mb: round(median(rs.map((r) => r.peakRssMb)), 0),
    read_per_byte: round(median(rs.map((r) => r.rchar / ds.totalBytes)), 3),
    runs_wall_s: rs.map((r) => round(r.wallSeconds, 3)),
  };
  if (linkMbps) {
    const pct = rs.map((r) => linkPercent(ds.totalBytes, r.wallSeconds, linkMbps));
    row.link_pct = round(median(pct), 1);
    row.link_pct_min = round(Math.min(...pct), 1);
  }
  if (tool === 'agent' || tool === 'agent-base') {
    row.read_per_byte_net = round(median(rs.map((r) => (r.rchar - (r.idle?.rchar ?? 0)) / ds.totalBytes)), 3);
    row.db_round_trips = median(rs.map((r) => r.dbRoundTrips ?? NaN));
    row.idle_cycle_s = round(median(rs.map((r) => r.idle?.wallSeconds ?? NaN)), 3);
  }
  return row;
}

export function round(x: number, d: number): number {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}
