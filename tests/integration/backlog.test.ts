import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBacklog } from '../../app/state/queries/backlog.js';
import { openTestDatabase, type TestDatabase } from '../helpers/database.js';

let database: TestDatabase;
const NOW = new Date('2026-11-30T12:00:00Z');

beforeAll(async () => {
  database = await openTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

async function session(
  name: string,
  status: string,
  fields: { observed?: string; total?: number; nextAttempt?: Date; uploaded?: number[]; pending?: number[] } = {},
) {
  const res = await database.db.query<{ id: string }>(
    `INSERT INTO uploader_sessions (folder_path, folder_name, root_path, profile, status, observed_state, total_bytes, next_attempt_at, discovered_at, updated_at)
     VALUES ($1, $2, '/r', 'p', $3, $4, $5, $6, $7, $7) RETURNING id`,
    [`/r/${name}`, name, status, fields.observed ?? null, fields.total ?? null, fields.nextAttempt ?? null, NOW],
  );
  const pk = Number(res.rows[0]?.id);
  const files = [
    ...(fields.uploaded ?? []).map((size) => ({ size, status: 'uploaded' })),
    ...(fields.pending ?? []).map((size) => ({ size, status: 'pending' })),
  ];
  for (const [i, f] of files.entries()) {
    await database.db.query(`INSERT INTO uploader_files (session_pk, relative_path, size, mtime_ns, status) VALUES ($1, $2, $3, '0', $4)`, [
      pk,
      `f${i}`,
      f.size,
      f.status,
    ]);
  }
}

describe('readBacklog', () => {
  it('counts the sessions an agent could upload now and the bytes they still have to send', async () => {
    expect(await readBacklog(database.db, NOW)).toEqual({ sessions: 0, bytes: 0 });
    const past = new Date(NOW.getTime() - 60_000);
    const future = new Date(NOW.getTime() + 60_000);
    await session('still-writing', 'waiting_for_stable', { observed: '2:500:1:abc' });
    await session('ready', 'ready_to_upload', { observed: '3:1000:1:abc' });
    await session('half-done', 'uploading', { observed: '2:9:1:abc', total: 5000, uploaded: [1500, 500], pending: [3000] });
    await session('retry-due', 'failed', { total: 700, nextAttempt: past });
    await session('retry-later', 'failed', { total: 800, nextAttempt: future });
    await session('not-yet-observed', 'ready_to_upload');
    for (const status of ['uploaded', 'processed', 'needs_attention']) await session(status, status, { total: 10_000 });
    expect(await readBacklog(database.db, NOW)).toEqual({ sessions: 4, bytes: 1000 + 3000 + 700 });
  });
});
