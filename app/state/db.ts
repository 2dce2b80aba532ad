import pg from 'pg';
import { redactSecrets } from '../errors.js';

export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

/** What the repository needs from a database: PostgreSQL through `pg`, or embedded PGlite. */
export interface Db {
  /** pglite-served: the embedded database of a running agent, through its local socket. */
  readonly kind: 'postgres' | 'pglite' | 'pglite-served';
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<T>>;
  /** Runs `fn` in one transaction on one connection. */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** Round trips made so far (for the benchmark). */
  readonly roundTrips: number;
  close(): Promise<void>;
}

export interface Tx {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<T>>;
  /** Runs a script of several statements (a migration). */
  exec(sql: string): Promise<void>;
}

export function createPgDb(
  connection: string | Pick<pg.PoolConfig, 'host' | 'user' | 'database'>,
  options: { onError?: (err: Error) => void; max?: number; kind?: Db['kind'] } = {},
): Db {
  const pool = new pg.Pool({
    ...(typeof connection === 'string' ? { connectionString: connection } : connection),
    max: options.max ?? 4,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    // A server that stops answering must not wedge a cycle forever.
    query_timeout: 60_000,
    keepAlive: true,
  });
  // An idle client whose server went away emits here; without a listener the process dies.
  pool.on('error', (err) => options.onError?.(new Error(redactSecrets(err.message))));
  let roundTrips = 0;
  return {
    kind: options.kind ?? 'postgres',
    get roundTrips() {
      return roundTrips;
    },
    async query<T>(sql: string, params: unknown[] = []) {
      roundTrips++;
      const res = await pool.query(sql, params);
      return { rows: res.rows as T[], rowCount: res.rowCount ?? 0 };
    },
    async transaction<T>(fn: (tx: Tx) => Promise<T>) {
      const client = await pool.connect();
      let broken = false;
      try {
        roundTrips++;
        await client.query('BEGIN');
        const result = await fn({
          async query<R>(sql: string, params: unknown[] = []) {
            roundTrips++;
            const res = await client.query(sql, params);
            return { rows: res.rows as R[], rowCount: res.rowCount ?? 0 };
          },
          async exec(sql: string) {
            roundTrips++;
            await client.query(sql);
          },
        });
        roundTrips++;
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
        throw err;
      } finally {
        client.release(broken);
      }
    },
    async close() {
      await pool.end();
    },
  };
}
