import { chmod, mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import type { DbGate } from './db-gate.js';

/**
 * `run` serves its embedded database here so that `status`, `retry`, `dismiss` and `doctor`
 * work beside it. The directory is the owner's alone (0700, the socket 0600): whoever can
 * connect can change any session. The name is the one `pg` connects to for host=DIR, port 5432.
 */
export function socketDir(stateDir: string): string {
  return join(stateDir, 'socket');
}
const SOCKET_FILE = '.s.PGSQL.5432';
/** A unix socket path longer than this does not fit in sockaddr_un. */
const MAX_SOCKET_PATH = 107;
/** A client that stops mid-statement or mid-transaction for this long gives the database back. */
const IDLE_MS = 10_000;

export async function servedSocketExists(stateDir: string): Promise<boolean> {
  return (await stat(join(socketDir(stateDir), SOCKET_FILE)).catch(() => null))?.isSocket() ?? false;
}

// Extended-protocol messages that are followed by more of the same statement (Parse, Bind,
// Describe, Execute, Close, Flush): the backend's unnamed statement and portal are shared, so
// nobody else may run until the client's Sync.
const MID_STATEMENT = new Set(['P', 'B', 'D', 'E', 'C', 'H'].map((c) => c.charCodeAt(0)));

/**
 * Serves `pglite` on a unix socket in `socketDir(stateDir)`, one client at a time, taking
 * turns with the agent's own queries through `gate`. Returns null (and the caller says why)
 * when the path is too long for a unix socket.
 */
export async function serveEmbeddedDb(pglite: PGlite, stateDir: string, gate: DbGate): Promise<{ path: string; stop(): Promise<void> } | null> {
  const dir = socketDir(stateDir);
  const path = join(dir, SOCKET_FILE);
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) return null;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  // A socket left by a run that was killed: the lock file was ours to take, so is this.
  await rm(path, { force: true });
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const turns = socketTurns(pglite, gate);
  const server = new PGLiteSocketServer({ db: turns.db, path, maxConnections: 1, idleTimeout: IDLE_MS });
  await server.start();
  await chmod(path, 0o600);
  return {
    path,
    async stop() {
      await server.stop();
      turns.stop();
      await rm(path, { force: true });
    },
  };
}

/**
 * The PGlite the socket server sees: each protocol message waits for the gate, and the gate
 * is held from a statement's first message to its Sync, and across a client's transaction.
 * The server's own transaction bookkeeping sees only the client's transactions, never the
 * agent's (it would otherwise roll back the agent's transaction when a client disconnects).
 */
function socketTurns(pglite: PGlite, gate: DbGate): { db: PGlite; stop(): void } {
  let open: (() => void) | null = null;
  let lastMessage = 0;
  let idle: NodeJS.Timeout | undefined;
  const ours = () => open !== null;
  const giveBack = () => {
    clearTimeout(idle);
    const o = open;
    open = null;
    o?.();
  };
  const watchIdle = () => {
    clearTimeout(idle);
    idle = setTimeout(() => {
      const rollback = pglite.isInTransaction() ? pglite.exec('ROLLBACK').then(() => undefined) : Promise.resolve();
      void rollback.catch(() => undefined).finally(giveBack);
    }, IDLE_MS);
    idle.unref();
  };
  const overrides: Partial<Record<PropertyKey, unknown>> = {
    isInTransaction: () => ours() && pglite.isInTransaction(),
    async runExclusive<T>(fn: () => Promise<T>): Promise<T> {
      open ??= await gate.acquire();
      watchIdle();
      try {
        return await pglite.runExclusive(fn);
      } finally {
        if (!MID_STATEMENT.has(lastMessage) && !pglite.isInTransaction()) giveBack();
      }
    },
    execProtocolRawStream(message: Uint8Array, options: Parameters<PGlite['execProtocolRawStream']>[1]) {
      lastMessage = message[0] ?? 0;
      return pglite.execProtocolRawStream(message, options);
    },
    // Called only to roll back a disconnected client's transaction.
    async exec(sql: string) {
      if (!ours()) return [];
      try {
        return await pglite.exec(sql);
      } finally {
        if (!pglite.isInTransaction()) giveBack();
      }
    },
  };
  const db = new Proxy(pglite, {
    get(target, prop) {
      if (prop in overrides) return overrides[prop];
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { db, stop: giveBack };
}
