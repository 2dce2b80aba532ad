import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../app/clock.js';
import type { AgentConfig } from '../../app/config/schema.js';
import { BACKLOG_NAMESPACE, backlogEmf, publishBacklogEvery } from '../../app/health/backlog-metric.js';
import { createLogger } from '../../app/logging/logger.js';
import type { Db } from '../../app/state/db.js';

type Obj = Record<string, unknown>;
const AT = new Date('2026-11-30T12:00:00Z');
const DIMENSIONS = { LabId: 'battery-lab', MachineId: 'lab-pc-fleet' };

/** The rules of CloudWatch's embedded metric format that decide whether a metric is extracted at all. */
function emfProblems(line: Obj): string[] {
  const problems: string[] = [];
  const aws = line._aws as
    { Timestamp?: unknown; CloudWatchMetrics?: { Namespace?: unknown; Dimensions?: unknown; Metrics?: { Name: string }[] }[] } | undefined;
  if (!aws) return ['no _aws member at the root'];
  if (!Number.isInteger(aws.Timestamp)) problems.push('Timestamp is not an integer of milliseconds');
  for (const directive of aws.CloudWatchMetrics ?? []) {
    if (typeof directive.Namespace !== 'string' || directive.Namespace === '') problems.push('no Namespace');
    for (const set of directive.Dimensions as string[][]) {
      if (set.length > 30) problems.push('more than 30 dimensions');
      for (const d of set) if (typeof line[d] !== 'string') problems.push(`dimension ${d} is not a string member at the root`);
    }
    for (const m of directive.Metrics ?? []) if (typeof line[m.Name] !== 'number') problems.push(`metric ${m.Name} is not a number at the root`);
  }
  if ((aws.CloudWatchMetrics ?? []).length === 0) problems.push('no CloudWatchMetrics directive');
  return problems;
}

describe('backlogEmf', () => {
  it('is a valid EMF document with SessionsWaiting and BytesWaiting under the lab and machine', () => {
    const doc = JSON.parse(JSON.stringify(backlogEmf({ sessions: 3, bytes: 5_000_000_000 }, DIMENSIONS, AT))) as Obj;
    expect(emfProblems(doc)).toEqual([]);
    expect(doc).toMatchObject({ LabId: 'battery-lab', MachineId: 'lab-pc-fleet', SessionsWaiting: 3, BytesWaiting: 5_000_000_000 });
    expect(doc._aws).toEqual({
      Timestamp: AT.getTime(),
      CloudWatchMetrics: [
        {
          Namespace: BACKLOG_NAMESPACE,
          Dimensions: [['LabId', 'MachineId']],
          Metrics: [
            { Name: 'SessionsWaiting', Unit: 'Count' },
            { Name: 'BytesWaiting', Unit: 'Bytes' },
          ],
        },
      ],
    });
  });

  it('matches the metric and dimensions platform/autoscaling.tf scales on', () => {
    const tf = readFileSync(join(import.meta.dirname, '../../platform/autoscaling.tf'), 'utf8');
    expect(tf).toContain(`backlog_namespace = "${BACKLOG_NAMESPACE}"`);
    expect(tf).toContain('metric_name = "SessionsWaiting"');
    for (const d of Object.keys(DIMENSIONS)) expect(tf).toMatch(new RegExp(`\\b${d}\\s*=\\s*var\\.agent\\.`));
  });
});

describe('publishBacklogEvery', () => {
  let dir: string;

  beforeEach(() => {
    vi.useFakeTimers();
    dir = mkdtempSync(join(tmpdir(), 'backlog-'));
  });
  afterEach(() => {
    vi.useRealTimers();
    rmSync(dir, { recursive: true, force: true });
  });

  function setup(query: Db['query']) {
    const handle = createLogger({ stream: 'stderr', logDir: dir, level: 'info' });
    const config = { agent: { lab_id: DIMENSIONS.LabId, machine_id: DIMENSIONS.MachineId } } as AgentConfig;
    const deps = { db: { query } as Db, config, clock: new ManualClock(AT), logger: handle.logger };
    const lines = () => {
      handle.flush();
      return readFileSync(join(dir, 'agent.log'), 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Obj);
    };
    return { deps, lines };
  }

  it("writes one EMF line per interval through the agent's logger, and stops with the loop", async () => {
    const query = vi.fn(() => Promise.resolve({ rows: [{ sessions: '4', bytes: '1234' }], rowCount: 1 })) as unknown as Db['query'];
    const { deps, lines } = setup(query);
    const stop = new AbortController();
    publishBacklogEvery(deps, stop.signal, 60_000);
    await vi.advanceTimersByTimeAsync(59_000);
    expect(query).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(2 * 60_000);
    const emitted = lines().filter((l) => l.event === 'upload_backlog');
    expect(emitted).toHaveLength(2);
    expect(emfProblems(emitted[0] ?? {})).toEqual([]);
    expect(emitted[0]).toMatchObject({ SessionsWaiting: 4, BytesWaiting: 1234, LabId: 'battery-lab' });
    stop.abort();
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(query).toHaveBeenCalledTimes(2);
  });

  it('skips a report the database cannot answer, without throwing', async () => {
    const query = vi.fn(() => Promise.reject(new Error('connection terminated'))) as unknown as Db['query'];
    const { deps, lines } = setup(query);
    const stop = new AbortController();
    publishBacklogEvery(deps, stop.signal, 60_000);
    await vi.advanceTimersByTimeAsync(60_000);
    stop.abort();
    expect(lines().map((l) => l.event)).toEqual(['upload_backlog_unavailable']);
  });
});
