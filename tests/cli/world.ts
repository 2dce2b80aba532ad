/** One S3 server and one state database per test file, and the environment a child agent gets. */
import { emptyTables, openTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { tempDir } from '../helpers/fixtures.js';
import { childEnv, killAll, uniqueName, writeAgentConfig, type AgentConfigFile } from './harness.js';

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
      await emptyTables(database.db);
    },
    async close() {
      await Promise.all([database.close(), s3.close()]);
    },
  };
}

export interface CliSuite {
  world: CliWorld;
  work: { path: string; remove(): Promise<void> };
  cfg: AgentConfigFile;
}

/**
 * Registers the hooks every CLI test file needs: one world per file; per test a fresh work
 * directory, emptied tables, a config with its own S3 prefix, and no child left running.
 */
export function cliSuite(name: string): CliSuite {
  const t = {} as CliSuite;
  beforeAll(async () => {
    t.world = await openCliWorld();
  });
  afterAll(async () => {
    await t.world?.close();
  });
  beforeEach(async () => {
    t.work = await tempDir(`uploader-cli-${name}-`);
    await t.world.reset();
    t.cfg = await writeAgentConfig(t.work.path, { endpoint: t.world.s3.endpoint, bucket: t.world.s3.bucket, prefix: uniqueName(name) });
  });
  afterEach(async () => {
    await killAll();
    await t.work.remove();
  });
  return t;
}
