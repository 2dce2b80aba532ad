import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeSession } from '../helpers/fixtures.js';
import { listSessions } from '../../app/state/queries/operator.js';
import { runCli, uniqueName, writeAgentConfig } from './harness.js';
import { cliSuite } from './world.js';

const t = cliSuite('plan');

interface Planned {
  folder: string;
  action: string;
  reason: string;
  move_to?: string;
}

describe("the dry run reaches the cycle's decisions", { timeout: 120_000 }, () => {
  it('two folders with one session_id: only one would upload, and it is the one that does; the move target skips a taken processed/ name', async () => {
    const twin = uniqueName('TWIN');
    const session = (id: string) => ({ 'metadata.json': JSON.stringify({ session_id: id }), 'data.csv': `${id}\n`, 'session_summary.json': '{}' });
    await writeSession(join(t.cfg.root, 'a-twin'), session(twin));
    await writeSession(join(t.cfg.root, 'b-twin'), { ...session(twin), 'extra.csv': 'different\n' });
    await writeSession(join(t.cfg.root, 'run-1'), session(uniqueName('S')));
    await mkdir(join(t.cfg.root, 'processed', 'run-1'), { recursive: true });
    // One session at a time: with parallel_sessions > 1 the twins' workers race for the session_id (one still wins).
    const cfg = await writeAgentConfig(t.work.path, {
      endpoint: t.world.s3.endpoint,
      bucket: t.world.s3.bucket,
      prefix: t.cfg.prefix,
      upload: { parallel_sessions: 1 },
    });
    const env = t.world.env();
    expect((await runCli(['scan-once', '--config', cfg.path], env)).code).toBe(0);

    const dry = await runCli(['scan-once', '--dry-run', '--json', '--config', cfg.path], env);
    expect(dry.code, dry.err).toBe(0);
    const plan = Object.fromEntries((JSON.parse(dry.out) as { plan: Planned[] }).plan.map((p) => [p.folder.split('/').at(-1), p]));
    const uploads = ['a-twin', 'b-twin'].filter((f) => plan[f]?.action === 'upload');
    expect(uploads).toHaveLength(1);
    const loser = uploads[0] === 'a-twin' ? 'b-twin' : 'a-twin';
    expect(plan[loser]).toMatchObject({ action: 'needs_attention', reason: expect.stringContaining(`session_id ${twin} is already recorded`) as string });
    expect(plan['run-1']).toMatchObject({ action: 'upload', move_to: join(t.cfg.root, 'processed', 'run-1.1') });

    const real = await runCli(['scan-once', '--config', cfg.path], env);
    expect(real.code).toBe(1);
    const status = Object.fromEntries((await listSessions(t.world.database.db)).map((s) => [s.folderName, s]));
    expect(status[uploads[0] as string]?.status).toBe('processed');
    expect(status[loser]?.status).toBe('needs_attention');
    expect(status['run-1']?.processedPath).toBe(plan['run-1']?.move_to);
    expect((await readdir(join(t.cfg.root, 'processed'))).sort()).toEqual([uploads[0], 'run-1', 'run-1.1'].sort());
  });
});
