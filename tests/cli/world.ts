/** One S3 server and one state database per test file, and the environment a child agent gets. */
import { openTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';
import { childEnv } from './harness.js';

export interface CliWorld {
  database: TestDatabase;
  s3: TestS3;
  /** DATABASE_URL for children, or undefined: they then use the embedded PGlite under storage.state_dir. */
  dbUrl: string | undefined;
  env(extra?: Record<string, string | undefined>): NodeJS.ProcessEnv;
  /** Empties the agent's tables (the PostgreSQL schema is shared by the tests of a file). */
  reset(): Promise<void>;
  close(): Promise<void>;
}

export async function openCliWorld(): Promise<CliWorld> {
  const [database, s3] = await Promise.all([openTestDatabase(), startTestS3()]);
  const dbUrl = database.url ?? undefined;
  return {
    database,
    s3,
    dbUrl,
    env: (extra = {}) =>
      childEnv({
        AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
        DATABASE_URL: dbUrl,
        ...extra,
      }),
    async reset() {
      await database.db.query('TRUNCATE uploader_sessions, uploader_session_ids, uploader_files, uploader_events CASCADE');
    },
    async close() {
      await Promise.all([database.close(), s3.close()]);
    },
  };
}
