import { spawnSync } from 'node:child_process';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/fixtures.js';

// npm run demo builds only when dist/ is older than its sources (npm ci has just built it).
const SCRIPT = fileURLToPath(new URL('../../scripts/build-if-stale.mjs', import.meta.url));
const OUTPUTS = ['dist/demo/run-demo.js', 'dist/app/cli/agent.bundle.js', 'dist/app/cli/uploader-agent.cjs'];

let work: { path: string; remove(): Promise<void> };
beforeEach(async () => {
  work = await tempDir('uploader-build-');
});
afterEach(async () => {
  await work.remove();
});

async function file(rel: string, ageSeconds: number): Promise<void> {
  const path = join(work.path, rel);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, '');
  const at = new Date(Date.now() - ageSeconds * 1000);
  await utimes(path, at, at);
}

const check = () => spawnSync(process.execPath, [SCRIPT, '--check', work.path], { encoding: 'utf8' }).stdout.trim();

describe('build-if-stale', () => {
  it('fresh when every output is newer than every source; stale when a source is newer or an output is missing', async () => {
    await file('app/cli/main.ts', 600);
    await file('package.json', 600);
    for (const o of OUTPUTS) await file(o, 60);
    // Directories' own mtimes count too (a deleted file); make them old.
    for (const d of ['app/cli', 'app']) await utimes(join(work.path, d), new Date(Date.now() - 600_000), new Date(Date.now() - 600_000));
    expect(check()).toBe('fresh');

    await file('app/cli/main.ts', 0);
    expect(check()).toBe('stale');
  });

  it('stale without a build', async () => {
    await file('app/cli/main.ts', 600);
    expect(check()).toBe('stale');
  });
});
