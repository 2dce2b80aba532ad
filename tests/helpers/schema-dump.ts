import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createPgDb } from '../../app/state/db.js';
import { migrate } from '../../app/state/migrate.js';
import { withSearchPath } from './database.js';

/** The schema every migration produces, as pg_dump prints it, without the noise that varies. */
export async function dumpMigratedSchema(serverUrl: string): Promise<string> {
  const schema = `dump_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE SCHEMA ${schema}`);
    const db = createPgDb(withSearchPath(serverUrl, schema));
    await migrate(db);
    await db.close();
    const raw = execFileSync('pg_dump', ['--schema-only', '--no-owner', '--no-privileges', '--schema', schema, '--dbname', serverUrl], { encoding: 'utf8' });
    return normalize(raw, schema);
  } finally {
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
}

function normalize(dump: string, schema: string): string {
  const lines = dump
    .split('\n')
    .filter((l) => !l.startsWith('--') && !l.startsWith('SET ') && !l.startsWith('SELECT pg_catalog.') && !l.startsWith('CREATE SCHEMA') && !l.startsWith('\\'))
    .map((l) => l.replaceAll(`${schema}.`, ''));
  return `${lines
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim()}\n`;
}
