import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Db } from './db.js';

// Relative to `app/`, so that it resolves the same from this module and from the bundle
// (dist/app/cli/agent.bundle.js, see scripts/bundle.mjs).
const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'state', 'migrations');

export interface Migration {
  id: number;
  name: string;
  sql: string;
}

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f)).sort();
  return Promise.all(files.map(async (f) => ({ id: Number(f.slice(0, 3)), name: f, sql: await readFile(join(dir, f), 'utf8') })));
}

/**
 * Applies pending migrations, forward only. Each runs in its own transaction that first
 * inserts its row: an agent migrating at the same moment blocks on that key, then hits the
 * unique violation and backs off, so concurrent starts are safe.
 */
export async function migrate(db: Db, migrations?: Migration[]): Promise<number[]> {
  const all = migrations ?? (await loadMigrations());
  // Every start asks this: one round trip when nothing is pending (it was one per migration,
  // plus a CREATE TABLE IF NOT EXISTS, each a round trip to a database that may be far away).
  let done = await appliedMigrations(db);
  if (done === null) {
    await createMigrationsTable(db);
    done = new Set();
  }
  const applied: number[] = [];
  for (const m of all) {
    if (done.has(m.id)) continue;
    try {
      await db.transaction(async (tx) => {
        await tx.query('INSERT INTO uploader_migrations (id, name, applied_at) VALUES ($1, $2, now())', [m.id, m.name]);
        await tx.exec(m.sql);
      });
      applied.push(m.id);
    } catch (err) {
      if ((err as { code?: string }).code !== '23505') throw err;
    }
  }
  return applied;
}

/** The ids of the migrations applied, or null when the table that records them does not exist yet. */
async function appliedMigrations(db: Db): Promise<Set<number> | null> {
  try {
    const res = await db.query<{ id: number }>('SELECT id FROM uploader_migrations');
    return new Set(res.rows.map((r) => r.id));
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') return null; // undefined_table
    throw err;
  }
}

async function createMigrationsTable(db: Db): Promise<void> {
  try {
    await db.query('CREATE TABLE IF NOT EXISTS uploader_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)');
  } catch (err) {
    // Two agents creating it at once: one wins, the other sees the type's unique key (23505)
    // or, depending on the moment, "type … already exists" (42710) or the table (42P07).
    if (!['23505', '42710', '42P07'].includes((err as { code?: string }).code ?? '')) throw err;
  }
}
