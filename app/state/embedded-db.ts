import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentError } from '../errors.js';
import type { Db, Tx } from './db.js';

/**
 * PGlite in `stateDir`, guarded by a lock file: PGlite's data directory must never be
 * opened by two processes, so a second agent on the same directory fails fast.
 */
export async function openEmbeddedDb(stateDir: string): Promise<Db> {
  const dataDir = join(stateDir, 'pglite');
  await mkdir(dataDir, { recursive: true });
  const releaseLock = await acquireLock(join(stateDir, 'agent.lock'));
  try {
    const { PGlite } = await import('@electric-sql/pglite');
    const pglite = await PGlite.create(dataDir);
    let roundTrips = 0;
    return {
      kind: 'pglite',
      get roundTrips() {
        return roundTrips;
      },
      async query<T>(sql: string, params: unknown[] = []) {
        roundTrips++;
        const res = await pglite.query<T>(sql, params);
        return { rows: res.rows, rowCount: res.affectedRows ?? res.rows.length };
      },
      async transaction<T>(fn: (tx: Tx) => Promise<T>) {
        return pglite.transaction(async (tx) =>
          fn({
            async query<R>(sql: string, params: unknown[] = []) {
              roundTrips++;
              const res = await tx.query<R>(sql, params);
              return { rows: res.rows, rowCount: res.affectedRows ?? res.rows.length };
            },
            async exec(sql: string) {
              roundTrips++;
              await tx.exec(sql);
            },
          }),
        );
      },
      async close() {
        await pglite.close();
        await releaseLock();
      },
    };
  } catch (err) {
    await releaseLock();
    throw err;
  }
}

async function acquireLock(lockFile: string): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(lockFile, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return async () => {
        await rm(lockFile, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number((await readFile(lockFile, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
        throw new AgentError(
          'STATE_DIR_LOCKED',
          `the embedded state database in ${lockFile.replace(/\/agent\.lock$/, '')} is in use by another uploader-agent (pid ${holder}); stop it, or give this one its own storage.state_dir or a DATABASE_URL`,
          'db',
          false,
        );
      }
      // The holder is gone (crash): the lock is stale.
      await rm(lockFile, { force: true });
    }
  }
  throw new AgentError('STATE_DIR_LOCKED', `cannot take the lock ${lockFile}`, 'db', false);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
