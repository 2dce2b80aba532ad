import { performance } from 'node:perf_hooks';
import type { Clock } from '../clock.js';
import type { Db } from './db.js';
import { clockSkewSeconds } from './clock-skew.js';
import { readDatabaseClock } from './queries/database-clock.js';

const REALIGN_AFTER_MS = 5 * 60_000;

/**
 * The state database's time, carried between readings by this process's monotonic clock.
 * Leases, stability windows and retry times are compared across agents, so every agent
 * takes them from the one clock they share: a host whose clock is minutes off (or is stepped
 * by NTP mid-run) then neither takes a live session over early nor lets a lease run long.
 * Until the first reading it is this host's clock.
 */
export class DatabaseTime implements Clock {
  private anchor: { databaseMs: number; monotonicMs: number } | null = null;

  constructor(
    private readonly db: Pick<Db, 'query'>,
    private readonly hostMs: () => number = Date.now,
    private readonly monotonicMs: () => number = () => performance.now(),
  ) {}

  now(): Date {
    if (!this.anchor) return new Date(this.hostMs());
    return new Date(this.anchor.databaseMs + (this.monotonicMs() - this.anchor.monotonicMs));
  }

  /**
   * Reads the database's clock again when the last reading is five minutes old (the
   * monotonic clock drifts a few seconds a day); this host's skew in seconds, or null when the
   * reading was fresh enough.
   */
  async realign(): Promise<number | null> {
    if (this.anchor && this.monotonicMs() - this.anchor.monotonicMs < REALIGN_AFTER_MS) return null;
    return this.align();
  }

  /** Reads the database's clock now; returns this host's skew against it in seconds. */
  async align(): Promise<number> {
    const [sentHost, sentMono] = [this.hostMs(), this.monotonicMs()];
    const databaseMs = (await readDatabaseClock(this.db)).getTime();
    if (!Number.isFinite(databaseMs)) throw new Error('the database answered clock_timestamp() with no time');
    const [receivedHost, receivedMono] = [this.hostMs(), this.monotonicMs()];
    // The database read its clock somewhere in the round trip: take the middle.
    this.anchor = { databaseMs, monotonicMs: (sentMono + receivedMono) / 2 };
    return clockSkewSeconds(sentHost, receivedHost, databaseMs);
  }
}
