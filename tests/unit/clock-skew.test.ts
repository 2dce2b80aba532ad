import { describe, expect, it } from 'vitest';
import { clockSkewSeconds, describeSkew } from '../../app/state/clock-skew.js';
import { DatabaseTime } from '../../app/state/database-time.js';

describe('clock skew against the database', () => {
  it('compares the database reading with the middle of the round trip that fetched it', () => {
    // Sent at 1,000 ms and answered at 1,100 ms by a database that read 1,050: no skew.
    expect(clockSkewSeconds(1_000, 1_100, 1_050)).toBe(0);
    // This host 5 minutes ahead: the database reads 300 s earlier than the midpoint.
    expect(clockSkewSeconds(400_000, 400_010, 100_005)).toBe(300);
    expect(clockSkewSeconds(100_000, 100_000, 130_000)).toBe(-30);
  });

  it('is described as ahead of or behind', () => {
    expect(describeSkew(300.04, 0)).toBe('300 s ahead of');
    expect(describeSkew(-2.46, 1)).toBe('2.5 s behind');
  });
});

describe('the database time the agent keeps', () => {
  // A database whose clock reads `databaseMs` at the moment of the query; counts the queries.
  function setup(hostStartMs: number, databaseAt: (monotonicMs: number) => number) {
    const t = { host: hostStartMs, mono: 1_000, queries: 0 };
    const db = {
      query: async () => {
        t.queries++;
        // The round trip takes 10 ms on both clocks; the database reads in the middle.
        t.host += 5;
        t.mono += 5;
        const at = databaseAt(t.mono);
        t.host += 5;
        t.mono += 5;
        return { rows: [{ now: new Date(at) }], rowCount: 1 };
      },
    } as unknown as ConstructorParameters<typeof DatabaseTime>[0];
    const clock = new DatabaseTime(
      db,
      () => t.host,
      () => t.mono,
    );
    return { t, clock };
  }
  const DB_EPOCH = Date.parse('2026-11-30T12:00:00Z');

  it("is this host's clock until the first reading, then the database's carried by the monotonic clock", async () => {
    const { t, clock } = setup(DB_EPOCH + 300_000, (mono) => DB_EPOCH + mono);
    expect(clock.now().getTime()).toBe(DB_EPOCH + 300_000);
    // This host read 300,000 and 300,010 around a database reading of 1,005 ms past DB_EPOCH.
    expect(await clock.align()).toBe(299);
    expect(clock.now().getTime()).toBe(DB_EPOCH + t.mono);
    t.mono += 60_000;
    t.host -= 3_600_000; // NTP steps this host's clock back an hour: the agent's time goes on
    expect(clock.now().getTime()).toBe(DB_EPOCH + t.mono);
  });

  it('reads the database again only when the last reading is five minutes old, or when asked to align', async () => {
    const { t, clock } = setup(DB_EPOCH, (mono) => DB_EPOCH + mono);
    await clock.realign();
    expect(t.queries).toBe(1);
    t.mono += 299_000;
    expect(await clock.realign()).toBeNull();
    expect(t.queries).toBe(1);
    await clock.align();
    expect(t.queries).toBe(2);
    t.mono += 300_000;
    await clock.realign();
    expect(t.queries).toBe(3);
  });

  it('follows the database when the two clocks drift apart', async () => {
    // The database's clock runs 1 % faster than this host's monotonic clock.
    const { t, clock } = setup(DB_EPOCH, (mono) => DB_EPOCH + mono * 1.01);
    await clock.realign();
    t.mono += 300_000;
    const before = clock.now().getTime();
    await clock.realign();
    // 10 ms passed, and the 3 s the database's clock gained over those five minutes.
    expect(Math.abs(clock.now().getTime() - before - (10 + 0.01 * 300_000))).toBeLessThan(1);
    // The database read 5 ms before the end of the round trip.
    expect(Math.abs(clock.now().getTime() - (DB_EPOCH + (t.mono - 5) * 1.01 + 5))).toBeLessThan(1);
  });
});
