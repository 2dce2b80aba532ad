import type { Db } from '../db.js';

/** The database server's clock, the one reference every agent of a deployment shares. */
export async function readDatabaseClock(db: Pick<Db, 'query'>): Promise<Date> {
  const res = await db.query<{ now: Date | string }>('SELECT clock_timestamp() AS now');
  return new Date(res.rows[0]?.now ?? Number.NaN);
}
