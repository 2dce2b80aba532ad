import { describe, expect, it } from 'vitest';
import { linkTimeline } from '../../bench/noop-s3.js';
import { cpuMsPerFile, linkPercent, pairRuns, ratioRow, spread, summarize, type RunSample, type Tool } from '../../bench/ratios.js';

function sample(tool: Tool, run: number, wallSeconds: number, cpuSeconds = 1, endpoint: RunSample['endpoint'] = 'noop'): RunSample {
  return { tool, dataset: 'small', endpoint, run, wallSeconds, cpuSeconds, peakRssMb: 100, rchar: 0 };
}

describe('ratioRow', () => {
  it('takes the throughput ratio run by run and reports the minimum, not the best run or the ratio of medians', () => {
    // Medians: agent 1.0 s, peer 2.0 s (2.0× by medians), but run 2 paired a slow agent with a fast peer.
    const samples = [
      sample('agent', 0, 1.0),
      sample('rclone', 0, 2.0),
      sample('agent', 1, 0.9),
      sample('rclone', 1, 2.7),
      sample('agent', 2, 2.0),
      sample('rclone', 2, 1.0),
    ];
    const r = ratioRow(samples, 'small', 'noop', 'rclone');
    expect(r?.throughput.n).toBe(3);
    expect(r?.throughput.min).toBeCloseTo(0.5);
    expect(r?.throughput.median).toBeCloseTo(2.0);
    expect(r?.throughput.max).toBeCloseTo(3.0);
  });

  it('pairs runs by index and leaves out a run only one of the two made', () => {
    const samples = [sample('agent', 0, 1), sample('agent', 1, 1), sample('rclone16', 1, 3), sample('rclone16', 2, 9)];
    expect(pairRuns(samples, 'small', 'noop', 'agent', 'rclone16').map(([a, p]) => [a.run, p.run])).toEqual([[1, 1]]);
    expect(ratioRow(samples, 'small', 'noop', 'rclone16')?.throughput.min).toBeCloseTo(3);
    expect(ratioRow(samples, 'small', 'noop', 'aws')).toBeNull();
  });

  it('keeps endpoints apart and gives the worst CPU ratio as the max', () => {
    const samples = [
      sample('agent', 0, 1, 2),
      sample('aws', 0, 1, 4),
      sample('agent', 1, 1, 3),
      sample('aws', 1, 1, 4),
      sample('agent', 0, 5, 9, 'wan'),
      sample('aws', 0, 1, 1, 'wan'),
    ];
    const r = ratioRow(samples, 'small', 'noop', 'aws');
    expect(r?.throughput.n).toBe(2);
    expect(r?.cpu.max).toBeCloseTo(0.75);
    expect(r?.cpu.min).toBeCloseTo(0.5);
  });
});

describe('spread', () => {
  it('gives min, median (mean of the middle two when even) and max, ignoring non-numbers', () => {
    expect(spread([3, 1, 2, 4, NaN])).toEqual({ n: 4, min: 1, median: 2.5, max: 4 });
    expect(spread([])).toBeNull();
  });
});

describe('per-file CPU and share of the link', () => {
  it('divides user+sys by the files, in ms', () => {
    expect(cpuMsPerFile(8, 5000)).toBeCloseTo(1.6);
  });
  it('is 100 % when the bytes take exactly the link time', () => {
    // 25 MB at 200 Mbit/s takes 1 s.
    expect(linkPercent(25e6, 1, 200)).toBeCloseTo(100);
    expect(linkPercent(25e6, 2, 200)).toBeCloseTo(50);
  });
  it('summarizes a shaped endpoint with the median and the worst run as % of the link', () => {
    const samples = [sample('agent', 0, 1, 1, 'wan'), sample('agent', 1, 2, 1, 'wan'), sample('agent', 2, 4, 1, 'wan')];
    const row = summarize(samples, { name: 'small', files: 10, totalBytes: 25e6 }, 'wan', 'agent', 200);
    expect(row?.link_pct).toBe(50);
    expect(row?.link_pct_min).toBe(25);
    expect(row?.cpu_ms_per_file).toBe(100);
  });
});

describe('linkTimeline', () => {
  it('books every body on one timeline at the link rate, never ahead of now and with no burst from idle time', () => {
    let t = 0;
    const book = linkTimeline(8, () => t); // 8 Mbit/s: 1,000 bytes per ms
    expect(book(1000)).toBe(1);
    expect(book(2000)).toBe(3); // a second connection queues behind the first
    t = 10;
    expect(book(1000)).toBe(11); // idle time 3..10 is not spent later
  });
});
