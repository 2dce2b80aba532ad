import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LeaseLostError } from '../../app/errors.js';
import { runCycle } from '../../app/scheduler.js';
import { createPgDb } from '../../app/state/db.js';
import { loadMigrations, migrate } from '../../app/state/migrate.js';
import { claimNextSession } from '../../app/state/queries/claim-next-session.js';
import { listSessions } from '../../app/state/queries/operator.js';
import { recordDiscovered } from '../../app/state/queries/record-discovered.js';
import { transitionSession } from '../../app/state/queries/transition-session.js';
import { openTestDatabase, type TestDatabase } from '../helpers/database.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { testConfig, testDeps, writeSession } from '../helpers/fixtures.js';
import { expectCompletedSessionsIntact } from '../helpers/integrity.js';
import { listKeys, type TestS3 } from '../helpers/s3.js';
import { useSessionRig } from '../helpers/session-rig.js';

let database: TestDatabase;
let s3: TestS3;
let work: { path: string; remove(): Promise<void> };
let root: string;
const signal = new AbortController().signal;

useSessionRig('state-bucket', (rig) => ({ database, s3, work, root } = rig));

const config = (overrides?: Parameters<typeof testConfig>[0]['overrides'], endpoint = s3.endpoint) =>
  testConfig({ root, work: work.path, s3: { endpoint, bucket: s3.bucket }, overrides });

describe('state database', () => {
  it('migrations started by several agents at once apply exactly once', async () => {
    const fresh = await openTestDatabase();
    try {
      await fresh.db.query(
        'DROP TABLE uploader_multipart_parts, uploader_multipart_uploads, uploader_events, uploader_files, uploader_session_ids, uploader_sessions, uploader_migrations',
      );
      const dbs = fresh.url ? Array.from({ length: 4 }, () => createPgDb(fresh.url as string)) : [fresh.db];
      await Promise.all(dbs.map((db) => migrate(db)));
      const rows = await fresh.db.query<{ id: number }>('SELECT id FROM uploader_migrations ORDER BY id');
      expect(rows.rows.map((r) => Number(r.id))).toEqual((await loadMigrations()).map((m) => m.id));
      await fresh.db.query('SELECT count(*) FROM uploader_sessions');
      if (fresh.url) await Promise.all(dbs.map((db) => db.close()));
    } finally {
      await fresh.close();
    }
  });

  it('an up-to-date database is checked in one statement, every start', async () => {
    const asked: string[] = [];
    const db = {
      ...database.db,
      query: <T = Record<string, unknown>>(sql: string, params?: unknown[]) => {
        asked.push(sql);
        return database.db.query<T>(sql, params);
      },
    };
    expect(await migrate(db)).toEqual([]);
    expect(asked).toEqual(['SELECT id FROM uploader_migrations']);
  });

  it('a stale agent cannot overwrite the state written by the agent that took its expired claim', async () => {
    const now = new Date();
    await recordDiscovered(database.db, [{ folderPath: join(root, 'x'), folderName: 'x', rootPath: root, profile: 'p' }], 'a', now);
    const claim = (agentId: string, at: Date) =>
      claimNextSession(database.db, { roots: [root], agentId, leaseToken: randomUUID(), leaseSeconds: 60, now: at, includeUploaded: true, skip: [] });
    const a = await claim('agent-a', now);
    expect(a?.leaseOwner).toBe('agent-a');
    expect(await claim('agent-b', new Date(now.getTime() + 30_000))).toBeNull();
    const b = await claim('agent-b', new Date(now.getTime() + 61_000));
    expect(b?.leaseOwner).toBe('agent-b');
    const move = (token: string, name: 'markStable' | 'needsAttention') =>
      transitionSession(database.db, { pk: a!.pk, leaseToken: token, agentId: 'x', clock: { now: () => now } }, name, { reason: 'test' });
    await expect(move(a!.leaseToken!, 'needsAttention')).rejects.toBeInstanceOf(LeaseLostError);
    await expect(move(b!.leaseToken!, 'markStable')).resolves.toMatchObject({ from: 'waiting_for_stable' });
    expect((await listSessions(database.db))[0]?.status).toBe('ready_to_upload');
  });

  it('two agents on one database and the same root upload every session exactly once', async () => {
    const proxy = await new FaultProxy('127.0.0.1', Number(new URL(s3.endpoint).port), true).start();
    try {
      for (let i = 0; i < 6; i++) await writeSession(join(root, `s${i}`), { 'data.csv': `session ${i}\n`.repeat(1000), 'session_summary.json': '{}' });
      const cfg = config({}, proxy.url);
      const a = testDeps(cfg, database, s3);
      const b = testDeps(cfg, database, s3);
      a.deps.agentId = 'agent-a';
      b.deps.agentId = 'agent-b';
      for (let round = 0; round < 3; round++) await Promise.all([runCycle(a.deps, signal), runCycle(b.deps, signal)]);
      const sessions = await listSessions(database.db);
      expect(sessions.map((s) => s.status)).toEqual(Array(6).fill('processed'));
      const completes = proxy.requests.filter((r) => r.startsWith('PUT') && r.includes('/_COMPLETE'));
      expect(completes).toHaveLength(6);
      expect(new Set(completes).size).toBe(6);
      const uploads = [...a.logs.events('upload_file_succeeded'), ...b.logs.events('upload_file_succeeded')];
      expect(uploads).toHaveLength(12);
      expect(await expectCompletedSessionsIntact(s3)).toHaveLength(6);
    } finally {
      await proxy.close();
    }
  });

  it('PostgreSQL connections dropped and refused mid-run: the cycle fails, nothing is reported done, the next cycle recovers', async ({ skip }) => {
    const url = database.url ?? skip('needs a PostgreSQL server to cut connections to (TEST_DATABASE_URL or Docker)');
    const pgUrl = new URL(url);
    const proxy = await new FaultProxy(pgUrl.hostname, Number(pgUrl.port || 5432)).start();
    const viaProxy = new URL(url);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    const db = createPgDb(viaProxy.toString());
    try {
      const { deps, logs } = testDeps(config(), { ...database, db }, s3);
      await writeSession(join(root, 'r'), { 'data.csv': 'x', 'session_summary.json': '{}' });
      await runCycle(deps, signal);
      proxy.dropAll();
      proxy.fault = 'refuse';
      await expect(runCycle(deps, signal)).rejects.toThrow();
      expect(await listKeys(s3)).toEqual([]);
      expect(logs.events('complete_marker_uploaded')).toEqual([]);
      proxy.fault = 'none';
      const report = await runCycle(deps, signal);
      expect(report.failed).toBe(0);
      expect((await listSessions(database.db))[0]?.status).toBe('processed');
      expect(await listKeys(s3)).toContain('r/_COMPLETE');
      expect(await expectCompletedSessionsIntact(s3)).toEqual(['r']);
    } finally {
      await db.close();
      await proxy.close();
    }
  });
});
