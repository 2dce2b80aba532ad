import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { dumpMigratedSchema } from '../helpers/schema-dump.js';

describe('the committed schema dump', () => {
  it('matches what the migrations produce (run `npm run db:dump` after adding a migration)', async (ctx) => {
    const url = process.env.TEST_DATABASE_URL;
    if (!url) ctx.skip();
    const committed = await readFile(new URL('../../app/state/schema.sql', import.meta.url), 'utf8');
    expect(committed.replace(/^--.*\n\n/, '')).toBe(await dumpMigratedSchema(url as string));
  });
});
