import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentError } from '../errors.js';
import type { PGlite } from '@electric-sql/pglite';
import { createPgDb, type Db, type Tx } from './db.js';
import { DbGate } from './db-gate.js';
import { serveEmbeddedDb, servedSocketExists, socketDir } from './embedded-socket.js';

export interface EmbeddedDbOptions {
  /** Serve the database on a local socket for the operator commands (`run`). */
  serve?: boolean;
  /** When a live agent holds the lock and serves the database, use it through its socket. */
  shareWithRunningAgent?: boolean;
  /** Told when the database cannot be served (the path is too long for a unix socket). */
  onNotServed?: (reason: string) => void;
}

/**
 * PGlite in `stateDir`, guarded by a lock file: PGlite's data directory must never be
 * opened by two processes, so a second agent on the same directory fails fast. An operator
 * command may instead reach it through the socket of the `run` that holds it.
 */
export async function openEmbeddedDb(stateDir: string, options: EmbeddedDbOptions = {}): Promise<Db> {
  try {
    return await openOwnEmbeddedDb(stateDir, options);
  } catch (err) {
    if (options.shareWithRunningAgent && err instanceof AgentError && err.code === 'STATE_DIR_LOCKED' && (await servedSocketExists(stateDir))) {
      return connectToServedDb(stateDir);
    }
    throw err;
  }
}

/**
 * The database a running agent serves. It serves one client at a time and turns others away,
 * so a command started beside another one waits its turn (up to SERVED_WAIT_MS).
 */
async function connectToServedDb(stateDir: string): Promise<Db> {
  const db = createPgDb({ host: socketDir(stateDir), user: 'postgres', database: 'postgres' }, { max: 1, kind: 'pglite-served' });
  const deadline = Date.now() + SERVED_WAIT_MS;
  for (;;) {
    try {
      await db.query('SELECT 1');
      return db;
    } catch (err) {
      if (Date.now() > deadline) {
        await db.close().catch(() => undefined);
        throw err;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
const SERVED_WAIT_MS = 15_000;

async function openOwnEmbeddedDb(stateDir: string, options: EmbeddedDbOptions): Promise<Db> {
  const dataDir = join(stateDir, 'pglite');
  await mkdir(dataDir, { recursive: true });
  const releaseLock = await acquireLock(join(stateDir, 'agent.lock'));
  try {
    const { PGlite } = await import('@electric-sql/pglite');
    const pglite = await PGlite.create(dataDir);
    const gate = new DbGate();
    const served = options.serve ? await serveEmbeddedDb(pglite, stateDir, gate) : null;
    if (options.serve && !served) options.onNotServed?.(`${socketDir(stateDir)} is too long a path for a unix socket`);
    return pgliteDb(pglite, {
      gate,
      async close() {
        await served?.stop();
        await pglite.close();
        await releaseLock();
      },
    });
  } catch (err) {
    await releaseLock();
    throw err;
  }
}

/**
 * A PGlite instance as a Db (also the tests' database without a server). `gate`: the turns it
 * takes with the clients its socket serves; `close`: what closing it involves (else the instance).
 */
export function pgliteDb(pglite: PGlite, options: { gate?: DbGate; close?: () => Promise<void> } = {}): Db {
  const gate = options.gate ?? new DbGate();
  let roundTrips = 0;
  return {
    kind: 'pglite',
    get roundTrips() {
      return roundTrips;
    },
    async query<T>(sql: string, params: unknown[] = []) {
      roundTrips++;
      const res = await gate.run(() => pglite.query<T>(sql, params));
      return { rows: res.rows, rowCount: res.affectedRows ?? res.rows.length };
    },
    async transaction<T>(fn: (tx: Tx) => Promise<T>) {
      return gate.run(() =>
        pglite.transaction(async (tx) =>
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
        ),
      );
    },
    close: options.close ?? (() => pglite.close()),
  };
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
