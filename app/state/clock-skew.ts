import type { Db } from './db.js';
import { readDatabaseClock } from './queries/database-clock.js';

/**
 * How far this host's clock is ahead of the database's (negative: behind), in seconds: the
 * database's reading against the midpoint of the round trip that fetched it.
 */
export function clockSkewSeconds(sentAtMs: number, receivedAtMs: number, databaseMs: number): number {
  return ((sentAtMs + receivedAtMs) / 2 - databaseMs) / 1000;
}

/**
 * Agents compare session leases on their own clocks, so a host off by a good part of a lease
 * may see another agent's live lease as expired and take the session over early (the other
 * agent's next step then fails on the lease token: work is wasted, nothing is lost or
 * duplicated). A quarter of the lease, at least 2 s, is where that starts to be likely.
 */
export function skewThresholdSeconds(leaseSeconds: number): number {
  return Math.max(2, leaseSeconds / 4);
}

/** "300 s ahead of" or "2.5 s behind", for the messages that report a skew. */
export function describeSkew(skewSeconds: number, digits: number): string {
  return `${Math.abs(skewSeconds).toFixed(digits)} s ${skewSeconds >= 0 ? 'ahead of' : 'behind'}`;
}

export async function measureClockSkew(db: Pick<Db, 'query'>, now: () => number = Date.now): Promise<number> {
  const sent = now();
  const database = (await readDatabaseClock(db)).getTime();
  if (!Number.isFinite(database)) throw new Error('the database answered clock_timestamp() with no time');
  return clockSkewSeconds(sent, now(), database);
}
