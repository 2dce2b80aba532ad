import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createPgDb, type Db } from '../../app/state/db.js';
import { pgliteDb } from '../../app/state/embedded-db.js';
import { migrate } from '../../app/state/migrate.js';

export interface TestDatabase {
  db: Db;
  /** A DATABASE_URL for child processes, pointing at this test's own schema (null for PGlite). */
  url: string | null;
  kind: string;
  close(): Promise<void>;
}

let announced = false;
let containerUrl: Promise<string> | undefined;

export function dockerAvailable(): boolean {
  return Boolean(process.env.DOCKER_HOST) || existsSync('/var/run/docker.sock');
}

/** The server tests run against: TEST_DATABASE_URL, else testcontainers' PostgreSQL, else none (PGlite). */
async function serverUrl(): Promise<string | null> {
  if (process.env.TEST_DATABASE_URL) return process.env.TEST_DATABASE_URL;
  if (!dockerAvailable()) return null;
  containerUrl ??= (async () => {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:16-alpine').start();
    return container.getConnectionUri();
  })();
  return containerUrl;
}

/**
 * A migrated database of its own for one test file: a fresh schema on the PostgreSQL server
 * (selected through the connection's search_path), or an in-memory PGlite without a server.
 */
export async function openTestDatabase(): Promise<TestDatabase> {
  const base = await serverUrl();
  if (!announced) {
    announced = true;
    console.log(
      `[tests] state database: ${base ? `PostgreSQL at ${new URL(base).host}${process.env.TEST_DATABASE_URL ? ' (TEST_DATABASE_URL)' : ' (testcontainers)'}` : 'PGlite (no TEST_DATABASE_URL and no Docker)'}`,
    );
  }
  if (!base) {
    const { PGlite } = await import('@electric-sql/pglite');
    const lite = await PGlite.create();
    const db = pgliteDb(lite);
    await migrate(db);
    return { db, url: null, kind: 'pglite', close: () => lite.close() };
  }
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const url = withSearchPath(base, schema);
  const db = createPgDb(url);
  await migrate(db);
  return {
    db,
    url,
    kind: 'postgres',
    async close() {
      await db.close();
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP SCHEMA ${schema} CASCADE`);
      await c.end();
    },
  };
}

export function withSearchPath(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

/** Empties every table of the agent (the schema is shared by the tests of a file). */
export async function emptyTables(db: Db): Promise<void> {
  await db.query(
    'TRUNCATE uploader_sessions, uploader_session_ids, uploader_files, uploader_events, uploader_multipart_uploads, uploader_multipart_parts CASCADE',
  );
}
