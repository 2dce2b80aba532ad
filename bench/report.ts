/** The benchmark's printed tables (markdown, pasted into docs/performance.md as they are). */
import type { IdleFigures, IdleResult } from './idle-bench.js';
import type { RatioRow, Row } from './ratios.js';
import { SCALE_GOALS, type ScaleResult } from './scale-bench.js';

export function resultTable(rows: Row[]): string {
  const head = [
    'dataset',
    'endpoint',
    'tool',
    'wall s',
    'MB/s',
    'files/s',
    'CPU-s',
    'CPU ms/file',
    '% of link (worst)',
    'peak RSS MB',
    'read/byte',
    'net read/byte',
    'DB RT/session',
    'idle cycle s',
  ];
  const lines = rows.map((r) => [
    `${r.dataset} (${r.files}×${human(r.bytes / r.files)})`,
    r.endpoint,
    r.tool,
    r.wall_s.toFixed(2),
    r.mb_per_s.toFixed(0),
    r.files_per_s.toFixed(0),
    r.cpu_s.toFixed(2),
    r.cpu_ms_per_file.toFixed(3),
    r.link_pct === undefined ? '' : `${r.link_pct.toFixed(0)} % (${(r.link_pct_min ?? NaN).toFixed(0)} %)`,
    r.peak_rss_mb.toFixed(0),
    r.read_per_byte.toFixed(2),
    r.read_per_byte_net?.toFixed(3) ?? '',
    r.db_round_trips?.toString() ?? '',
    r.idle_cycle_s?.toFixed(2) ?? '',
  ]);
  return markdown(head, lines);
}

export function ratioTable(rows: RatioRow[]): string {
  const head = ['dataset', 'endpoint', 'peer', 'pairs', 'throughput agent/peer MIN', 'median', 'CPU agent/peer worst (max)', 'median', 'RSS agent/peer median'];
  const x = (v: number) => `${v.toFixed(2)}×`;
  const lines = rows.map((r) => [
    r.dataset,
    r.endpoint,
    r.peer,
    String(r.throughput.n),
    `**${x(r.throughput.min)}**`,
    x(r.throughput.median),
    x(r.cpu.max),
    x(r.cpu.median),
    x(r.rss.median),
  ]);
  return markdown(head, lines);
}

export function idleTable(idle: IdleResult): string {
  const head = ['idle scan-once (empty root, PostgreSQL)', 'runs', 'wall s median', 'min', 'max', 'CPU-s', 'peak RSS MB'];
  const line = (label: string, f: IdleFigures) => [
    label,
    String(f.runs),
    f.wall_s.median.toFixed(3),
    f.wall_s.min.toFixed(3),
    f.wall_s.max.toFixed(3),
    f.cpu_s.toFixed(2),
    f.peak_rss_mb.toFixed(0),
  ];
  return markdown(head, [line('quiet', idle.quiet), ...(idle.loaded_core ? [line('one core held by a busy loop', idle.loaded_core)] : [])]);
}

export function scaleTable(r: ScaleResult): string {
  const head = ['scenario', 'wall s', 'CPU-s', 'peak RSS MB', 'DB RT/session', 'parts × part size', 'goal'];
  const lines: string[][] = [];
  const f = r.many_files;
  if (f) {
    const ok = f.peak_rss_mb <= SCALE_GOALS.manyFilesRssMb && (f.db_round_trips ?? Infinity) <= SCALE_GOALS.manyFilesRoundTrips;
    lines.push([
      `${f.files} files × 1 KiB, one session (observe ${f.observe_s.toFixed(1)} s)`,
      f.wall_s.toFixed(1),
      f.cpu_s.toFixed(1),
      String(f.peak_rss_mb),
      String(f.db_round_trips ?? ''),
      '',
      `RSS ≤ ${SCALE_GOALS.manyFilesRssMb} MB, RT ≤ ${SCALE_GOALS.manyFilesRoundTrips} (set for 100,000 files): ${ok ? 'met' : 'NOT met'}`,
    ]);
  }
  const s = r.sparse;
  if (s) {
    const ok = s.peak_rss_mb <= SCALE_GOALS.sparseRssMb && s.parts <= SCALE_GOALS.maxParts;
    const parts = s.parts ? `${s.parts} × ${human(s.part_size_bytes)}` : 'one PUT';
    lines.push([
      `sparse file of ${human(s.bytes)}`,
      s.wall_s.toFixed(1),
      s.cpu_s.toFixed(1),
      String(s.peak_rss_mb),
      String(s.db_round_trips ?? ''),
      parts,
      `RSS ≤ ${SCALE_GOALS.sparseRssMb} MB, parts ≤ ${SCALE_GOALS.maxParts} (set for 1 TiB): ${ok ? 'met' : 'NOT met'}`,
    ]);
  }
  return markdown(head, lines);
}

function markdown(head: string[], lines: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...lines.map((l) => `| ${l.join(' | ')} |`)].join('\n');
}

export function human(n: number): string {
  if (n >= 1024 ** 4) return `${+(n / 1024 ** 4).toFixed(1)} TiB`;
  if (n >= 1024 ** 3) return `${+(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${+(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${+(n / 1024).toFixed(1)} KiB`;
}
