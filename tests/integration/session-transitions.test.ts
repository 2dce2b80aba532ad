import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaseLostError } from '../../app/errors.js';
import { dismissSession, requeueSession } from '../../app/state/queries/operator-transitions.js';
import { listEvents, listSessions } from '../../app/state/queries/operator.js';
import { recordDiscovered } from '../../app/state/queries/record-discovered.js';
import { transitionSession } from '../../app/state/queries/transition-session.js';
import { TRANSITIONS, startsFrom, type TransitionName } from '../../app/state/session-transitions.js';
import { SESSION_STATES, type SessionStatus } from '../../app/state/states.js';
import { openTestDatabase, type TestDatabase } from '../helpers/database.js';

let database: TestDatabase;
beforeAll(async () => {
  database = await openTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

const now = new Date('2026-03-01T12:00:00Z');
const clock = { now: () => now };
const NAMES = Object.keys(TRANSITIONS) as TransitionName[];

/** One row per (transition, starting state), put in that state, claimed by `token-<pk>` unless the operator acts on it. */
async function rowsInEveryState(): Promise<{ name: TransitionName; status: SessionStatus; pk: number }[]> {
  const cases = NAMES.flatMap((name) => SESSION_STATES.map((status) => ({ name, status })));
  const folders = cases.map((c) => ({ folderPath: `/root/${c.name}-${c.status}`, folderName: `${c.name}-${c.status}`, rootPath: '/root', profile: 'p' }));
  const rows = await recordDiscovered(database.db, folders, 'test', now);
  const pks = new Map(rows.map((r) => [r.folderPath, r.pk]));
  const withPk = cases.map((c) => ({ ...c, pk: pks.get(`/root/${c.name}-${c.status}`) as number }));
  await database.db.query(
    `UPDATE uploader_sessions s SET status = c.status, lease_token = CASE WHEN c.agent THEN 'token-' || s.id END, lease_expires_at = $4
       FROM unnest($1::bigint[], $2::text[], $3::boolean[]) AS c(id, status, agent) WHERE s.id = c.id`,
    [withPk.map((c) => c.pk), withPk.map((c) => c.status), withPk.map((c) => TRANSITIONS[c.name].by === 'agent'), new Date(now.getTime() + 60_000)],
  );
  return withPk;
}

/** Applies the named transition the way its code does; the state it started from, or null when refused. */
async function apply(name: TransitionName, pk: number): Promise<SessionStatus | null> {
  const db = database.db;
  if (name === 'retry') return requeueSession(db, pk, 'op@host', now);
  if (name === 'dismiss') return dismissSession(db, pk, { who: 'op@host', reason: 'test', now });
  try {
    return (await transitionSession(db, { pk, leaseToken: `token-${pk}`, agentId: 'agent', clock }, name, { reason: name })).from;
  } catch (err) {
    if (err instanceof LeaseLostError) return null;
    throw err;
  }
}

describe('each named transition, applied to a session in every state', () => {
  it("moves exactly the sessions in one of its table's `from` states to its `to` state, and records the event", async () => {
    const cases = await rowsInEveryState();
    for (const c of cases) {
      const allowed = startsFrom(c.name, c.status);
      await expect(apply(c.name, c.pk), `${c.name} from ${c.status}`).resolves.toBe(allowed ? c.status : null);
    }
    const after = new Map((await listSessions(database.db)).map((r) => [r.pk, r.status]));
    for (const c of cases) {
      const { to } = TRANSITIONS[c.name];
      const allowed = startsFrom(c.name, c.status);
      expect(after.get(c.pk), `${c.name} from ${c.status}`).toBe(allowed ? to : c.status);
      const events = (await listEvents(database.db, c.pk)).slice(1);
      expect(
        events.map((e) => [e.from, e.to]),
        `${c.name} from ${c.status}`,
      ).toEqual(allowed ? [[c.status, to]] : []);
    }
  });

  it('refuses an agent transition without the current lease, whatever the state', async () => {
    const [row] = await recordDiscovered(database.db, [{ folderPath: '/root/stale', folderName: 'stale', rootPath: '/root', profile: 'p' }], 'test', now);
    await database.db.query(`UPDATE uploader_sessions SET lease_token = 'current' WHERE id = $1`, [row!.pk]);
    await expect(
      transitionSession(database.db, { pk: row!.pk, leaseToken: 'stale', agentId: 'agent', clock }, 'markStable', { reason: 'x' }),
    ).rejects.toBeInstanceOf(LeaseLostError);
    await expect(
      transitionSession(database.db, { pk: row!.pk, leaseToken: 'current', agentId: 'agent', clock }, 'markStable', { reason: 'x' }),
    ).resolves.toMatchObject({ from: 'waiting_for_stable', row: { status: 'ready_to_upload' } });
  });
});
