import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { emptyTables, openTestDatabase, type TestDatabase } from './database.js';
import { tempDir } from './fixtures.js';
import { S3Proxy } from './s3-proxy.js';
import { emptyBucket, startTestS3, type TestS3 } from './s3.js';

/** What an in-process pipeline test works against. */
export interface SessionRig {
  /** The file's own migrated database (its tables emptied before each test). */
  database: TestDatabase;
  /** The file's own S3 server and bucket (emptied before each test). */
  s3: TestS3;
  /** A fresh directory per test. */
  work: { path: string; remove(): Promise<void> };
  /** The session root, `{work}/sessions`, created empty. */
  root: string;
}

/**
 * Registers the hooks every in-process pipeline test file needs: one database and S3 server
 * per file; per test a fresh work directory and session root, emptied tables and bucket, and
 * with `{ proxy: true }` an S3 proxy in front of the server. `bind` hears the rig after every
 * setup, so a file keeps its own short names (`root`, `s3`, …).
 */
export function useSessionRig(bucket: string, bind: (rig: SessionRig) => void): void;
export function useSessionRig(bucket: string, bind: (rig: SessionRig & { proxy: S3Proxy }) => void, options: { proxy: true }): void;
export function useSessionRig(bucket: string, bind: (rig: SessionRig & { proxy: S3Proxy }) => void, options: { proxy?: boolean } = {}): void {
  const rig = {} as SessionRig & { proxy: S3Proxy };
  beforeAll(async () => {
    [rig.database, rig.s3] = await Promise.all([openTestDatabase(), startTestS3(bucket)]);
  });
  afterAll(async () => {
    await Promise.all([rig.database?.close(), rig.s3?.close()]);
  });
  beforeEach(async () => {
    rig.work = await tempDir();
    rig.root = join(rig.work.path, 'sessions');
    await mkdir(rig.root);
    if (options.proxy) rig.proxy = await new S3Proxy(rig.s3.endpoint, rig.s3.bucket, rig.s3.client).start();
    await emptyTables(rig.database.db);
    await emptyBucket(rig.s3);
    bind(rig);
  });
  afterEach(async () => {
    if (options.proxy) await rig.proxy.close();
    await rig.work.remove();
  });
}
