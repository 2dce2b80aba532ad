import { cp, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeSession } from '../helpers/fixtures.js';
import { runCli, uniqueName, writeAgentConfig } from './harness.js';
import { cliSuite } from './world.js';

// Each child process starts in ~1 s (PGlite: 2-8 s); a test runs several in sequence.
const SLOW = 150_000;

const t = cliSuite('next');

interface StatusRow {
  id: string;
  row: number;
  status: string;
  path: string;
  next: { action: string; reason: string };
}

interface Planned {
  folder: string;
  action: string;
  reason: string;
}

const name = (path: string) => path.split('/').at(-1) as string;

describe('status says what the next cycle will do, as the dry run decides it', { timeout: SLOW }, () => {
  it('upload, wait, will need attention, twin, leased, done; then the cycle does it', async () => {
    const cli = (...args: string[]) => runCli([...args, '--config', t.cfg.path], t.world.env());
    const session = (id: string, extra: Record<string, string> = {}) => ({
      'metadata.json': JSON.stringify({ session_id: id }),
      'data.csv': `${id}\n`,
      'session_summary.json': '{}',
      ...extra,
    });
    const twinId = uniqueName('TWIN');
    const copy = join(t.work.path, 'copy-of-orig');
    await writeSession(copy, session(twinId));
    const putBack = () => cp(copy, join(t.cfg.root, 'orig'), { recursive: true, preserveTimestamps: true });
    await putBack();
    expect((await cli('scan-once')).code).toBe(0);
    expect((await cli('scan-once')).code).toBe(0);
    // The same session copied back where it was found: a new row whose session_id is taken.
    await putBack();
    await writeSession(join(t.cfg.root, 'ready'), session(uniqueName('READY')));
    await writeSession(join(t.cfg.root, 'open'), { 'data.csv': '1\n' });
    await writeSession(join(t.cfg.root, 'bad'), { 'data.csv': '1\n', 'manifest.json': '{}', 'session_summary.json': '{}' });
    await writeSession(join(t.cfg.root, 'leased'), session(uniqueName('LEASED')));
    expect((await cli('scan-once')).code).toBe(0);
    // Another host's live agent holds this one (only PostgreSQL is shared with the test).
    const leased = t.world.dbUrl !== undefined;
    if (leased)
      await t.world.database.db.query(
        `UPDATE uploader_sessions SET lease_owner = 'otherpc-4242-abcdef', lease_token = 'held', lease_expires_at = now() + interval '1 hour' WHERE folder_name = 'leased'`,
      );

    const status = await cli('status', '--json');
    expect(status.code, status.err).toBe(0);
    const rows = JSON.parse(status.out) as StatusRow[];
    const active = Object.fromEntries(rows.filter((r) => r.status !== 'processed').map((r) => [name(r.path), r.next]));
    expect(rows.find((r) => r.status === 'processed')?.next.reason).toBe(`done: moved to ${join(t.cfg.root, 'processed', 'orig')}`);
    expect(active.ready).toEqual({ action: 'upload', reason: 'complete and stable: will upload on the next cycle' });
    expect(active.open).toEqual({ action: 'wait', reason: 'waiting for marker files: session_summary.json' });
    expect(active.bad?.action).toBe('needs_attention');
    expect(active.bad?.reason).toMatch(/^will need attention: the session contains manifest\.json at its top level/);
    expect(active.orig?.action).toBe('move');
    expect(active.orig?.reason).toMatch(
      new RegExp(`^twin of folder ${join(t.cfg.root, 'orig')} \\(session_id ${twinId}, already uploaded\\): will not upload`),
    );
    if (leased) expect(active.leased?.reason).toMatch(/^leased by agent otherpc pid 4242 until \d{4}-/);

    // One decision: the dry run says the same of every folder.
    const dry = await cli('scan-once', '--dry-run', '--json');
    expect(dry.code, dry.err).toBe(0);
    const plan = (JSON.parse(dry.out) as { plan: Planned[] }).plan;
    expect(plan).toHaveLength(5);
    for (const p of plan) expect({ folder: name(p.folder), ...active[name(p.folder)] }).toEqual({ folder: name(p.folder), action: p.action, reason: p.reason });

    const table = await cli('status');
    expect(table.code, table.err).toBe(0);
    expect(table.out).toMatch(/^SESSION\s+STATUS\s+AGE\s+FILES\s+SIZE\s+RETRIES\s+NEXT RETRY\s+NEXT\s+HELD BY\s+PATH/);
    expect(table.out).toMatch(/ready\s+waiting_for_stable\s.*complete and stable: will upload on the next cycle/);

    expect((await cli('scan-once')).code).toBe(1);
    const after = Object.fromEntries((JSON.parse((await cli('status', '--json')).out) as StatusRow[]).map((r) => [`${name(r.path)}:${r.status}`, r.next]));
    expect(Object.keys(after).sort()).toEqual(
      ['bad:needs_attention', 'leased:' + (leased ? 'waiting_for_stable' : 'processed'), 'open:waiting_for_stable', 'orig:processed', 'ready:processed'].sort(),
    );
    expect(after['bad:needs_attention']?.reason).toMatch(/^needs attention: the session contains manifest\.json .*; `retry` to try again$/);
    const history = await cli('status', 'bad');
    expect(history.out).toMatch(/^session bad \(row \d+\): needs_attention\n {2}next: needs attention: .*`retry` to try again\n/);
  });

  it('a folder inside its stability window: stable in N s', async () => {
    const cfg = await writeAgentConfig(t.work.path, {
      endpoint: t.world.s3.endpoint,
      bucket: t.world.s3.bucket,
      prefix: t.cfg.prefix,
      agent: { stable_window_seconds: 3600 },
    });
    const cli = (...args: string[]) => runCli([...args, '--config', cfg.path], t.world.env());
    await writeSession(join(cfg.root, 'slow'), { 'data.csv': '1\n', 'session_summary.json': '{}' });
    expect((await cli('scan-once')).code).toBe(0);
    const [row] = JSON.parse((await cli('status', '--json')).out) as StatusRow[];
    expect(row?.next.action).toBe('wait');
    expect(row?.next.reason).toMatch(/^waiting: unchanged for \d+s of 3600s; stable in 3[56]\d\d s if nothing changes$/);
  });
});

describe("print-manifest runs the cycle's preflight", { timeout: SLOW }, () => {
  it('a key longer than S3 allows: exit 1 naming it, no manifest', async () => {
    const deep = Array.from({ length: 5 }, (_, i) => `${String(i).repeat(200)}`).join('/');
    const folder = join(t.cfg.root, 'deep');
    await mkdir(join(folder, deep), { recursive: true });
    await writeSession(folder, { [`${deep}/x.csv`]: '1\n', 'session_summary.json': '{}' });
    const r = await runCli(['print-manifest', '--session', folder, '--config', t.cfg.path], t.world.env());
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/longer than S3's limit of 1024 bytes/);
    expect(r.out).toBe('');
  });
});
