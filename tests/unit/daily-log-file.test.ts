import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DailyLogFile } from '../../app/logging/daily-file.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'logs-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('agent.log rotated daily', () => {
  it('writes to agent.log and moves it to agent-<day>.log when the UTC day changes', async () => {
    let day = '2026-11-20';
    const log = new DailyLogFile(dir, 14, () => day);
    log.write('{"n":1}\n');
    log.flush();
    day = '2026-11-21';
    log.write('{"n":2}\n');
    log.flush();
    expect((await readdir(dir)).sort()).toEqual(['agent-2026-11-20.log', 'agent.log']);
    expect(await readFile(join(dir, 'agent-2026-11-20.log'), 'utf8')).toBe('{"n":1}\n');
    expect(await readFile(join(dir, 'agent.log'), 'utf8')).toBe('{"n":2}\n');
  });

  it('rotates a log left from an earlier day at start, and keeps only the newest rotated files', async () => {
    for (const d of ['2026-11-01', '2026-11-02', '2026-11-03']) await writeFile(join(dir, `agent-${d}.log`), d);
    await writeFile(join(dir, 'agent.log'), 'from the 4th\n');
    const fourth = new Date('2026-11-04T12:00:00Z');
    await utimes(join(dir, 'agent.log'), fourth, fourth);
    const log = new DailyLogFile(dir, 2, () => '2026-11-05');
    log.write('today\n');
    log.flush();
    expect((await readdir(dir)).sort()).toEqual(['agent-2026-11-03.log', 'agent-2026-11-04.log', 'agent.log']);
    expect(await readFile(join(dir, 'agent-2026-11-04.log'), 'utf8')).toBe('from the 4th\n');
  });
});
