import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalS3, LOCAL_S3_CREDENTIALS, type LocalS3 } from '../../demo/local-s3.js';
import { listSessions } from '../../app/state/queries/operator.js';
import { startAgent, runAgent } from '../helpers/agent-process.js';
import { openTestDatabase, type TestDatabase } from '../helpers/database.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { tempDir, writeSession } from '../helpers/fixtures.js';
import { expectCompletedSessionsIntact } from '../helpers/integrity.js';
import { seededRandom } from '../helpers/seeded-random.js';
import { getObject, listKeys, s3Client, sha256, type Bucket } from '../helpers/s3.js';

/** Kills per run: CRASH_KILLS (the full run uses 60); CI runs a smaller number. */
const KILLS = Number(process.env.CRASH_KILLS ?? 12);
/** The kill moments: CRASH_SEED replays a run's delays (its seed is printed). */
const random = seededRandom('CRASH_SEED');
const KILLS_PER_ROUND = 6;
const BUCKET = 'crash-bucket';

let database: TestDatabase;
let server: LocalS3;
const created: string[] = [];

beforeAll(async () => {
  [database, server] = await Promise.all([openTestDatabase(), startLocalS3([BUCKET], (key) => created.push(key))]);
});
afterAll(async () => {
  await Promise.all([database?.close(), server?.close()]);
});

type Files = Record<string, Buffer | string>;

function dataset(round: number): Record<string, { files: Files; complete: boolean; id: string }> {
  const many: Files = { 'session_summary.json': '{}' };
  for (let i = 0; i < 150; i++) many[`ch${i % 4}/cycle-${i}.csv`] = `cycle,${i},${randomBytes(8).toString('hex')}\n`.repeat(20);
  return {
    [`r${round}-camera`]: {
      id: `r${round}-camera`,
      complete: true,
      files: { 'frames.raw': randomBytes(23 * 1024 * 1024 + 777), 'notes.txt': 'camera', 'session_summary.json': '{}' },
    },
    [`r${round}-cycler`]: { id: `r${round}-cycler`, complete: true, files: many },
    [`r${round}-mixed`]: {
      id: `BAT-${round}-042`,
      complete: true,
      files: {
        'metadata.json': JSON.stringify({ session_id: `BAT-${round}-042` }),
        'a.bin': randomBytes(3 * 1024 * 1024),
        'b.bin': randomBytes(6 * 1024 * 1024),
        'empty.dat': '',
        'session_summary.json': '{}',
      },
    },
    [`r${round}-open`]: { id: `r${round}-open`, complete: false, files: { 'partial.csv': 'still being written' } },
  };
}

/** Whether the log ends inside an upload: one was started and had not ended when the process died. */
function killedDuringUpload(logs: Record<string, unknown>[]): boolean {
  const ends = new Set(['complete_marker_uploaded', 'session_duplicate', 'session_changed', 'session_failed']);
  const open = new Set<unknown>();
  for (const l of logs) {
    if (l.event === 'upload_started') open.add(l.session_id);
    else if (typeof l.event === 'string' && ends.has(l.event)) open.delete(l.session_id);
  }
  return open.size > 0;
}

describe('kill -9 at random moments, then restart', () => {
  it(`keeps every invariant over ${KILLS} kills: nothing lost or corrupt, one _COMPLETE per session, each folder moved once`, async (ctx) => {
    if (!database.url) ctx.skip('the agent children need a PostgreSQL server');
    console.log(`[crash-loop] kill delays from seed ${random.seed} (replay with CRASH_SEED=${random.seed})`);
    const work = await tempDir();
    // A slower link (1 ms per chunk, 16 MiB/s) widens the window in which a kill lands mid-part:
    // on a quick machine the uploads are otherwise over before the kill.
    const proxy = await new FaultProxy('127.0.0.1', Number(new URL(server.endpoint).port)).start();
    proxy.delayMs = 1;
    const s3: Bucket = { client: s3Client(server.endpoint, LOCAL_S3_CREDENTIALS), bucket: BUCKET };
    const root = join(work.path, 'sessions');
    await mkdir(root);
    const configFile = join(work.path, 'config.yaml');
    await writeFile(
      configFile,
      `agent: {machine_id: crash-pc, lab_id: crash-lab, scan_interval_seconds: 1, stable_window_seconds: 0, lease_seconds: 5}
watch: {session_roots: [{path: ${root}, profile: p}]}
profiles: {p: {required_markers: [session_summary.json], metadata_files: [metadata.json]}}
upload: {s3_bucket: ${BUCKET}, s3_region: us-east-1, s3_endpoint: "${proxy.url}", s3_force_path_style: true, part_size_mb: 5, concurrency: 4, initial_backoff_seconds: 1, max_retries: 50, max_bytes_per_second: 16777216}
storage: {manifest_cache_dir: ${join(work.path, 'manifests')}, log_dir: ${join(work.path, 'logs')}}
`,
    );
    const env = {
      DATABASE_URL: database.url as string,
      AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
    };
    const all: ReturnType<typeof dataset> = {};
    let kills = 0;
    let killedMidUpload = 0;
    try {
      for (let round = 0; kills < KILLS; round++) {
        const sessions = dataset(round);
        Object.assign(all, sessions);
        for (const [name, s] of Object.entries(sessions)) await writeSession(join(root, name), s.files);
        for (let k = 0; k < KILLS_PER_ROUND && kills < KILLS; k++) {
          const agent = startAgent(['run', '--config', configFile], env);
          // Every other kill lands during an upload (up to 400 ms into it): random moments alone
          // often miss the uploads, which are short. The others are at random.
          if (k % 2 === 0)
            await agent.waitForEvent('upload_started', 5_000).then(
              () => new Promise((r) => setTimeout(r, random.next() * 400)),
              () => undefined,
            );
          else await new Promise((r) => setTimeout(r, 300 + random.next() * 2200));
          agent.child.kill('SIGKILL');
          await agent.exited;
          kills++;
          if (killedDuringUpload(agent.logs)) killedMidUpload++;
        }
        // Then let it finish, as a restarted task would. Expired leases (5 s) are taken over.
        for (let pass = 0; pass < 12; pass++) {
          const rows = await listSessions(database.db);
          if (Object.entries(sessions).every(([name, s]) => !s.complete || rows.find((r) => r.folderName === name && r.status === 'processed'))) break;
          await new Promise((r) => setTimeout(r, 1000));
          await runAgent(['scan-once', '--config', configFile], env);
        }
      }

      const rows = await listSessions(database.db);
      let corrupt = 0;
      let lost = 0;
      for (const [name, s] of Object.entries(all)) {
        const keys = await listKeys(s3, `${s.id}/`);
        if (!s.complete) {
          expect(keys, name).toEqual([]);
          expect((await readdir(join(root, name))).length, name).toBeGreaterThan(0);
          continue;
        }
        const mine = rows.filter((r) => r.folderName === name);
        expect(
          mine.map((r) => r.status),
          `${name}: ${mine.map((r) => `${r.lastErrorCode}: ${r.lastError} (attempts ${r.attempts})`).join('; ')}`,
        ).toEqual(['processed']);
        for (const [rel, content] of Object.entries(s.files)) {
          if (!keys.includes(`${s.id}/${rel}`)) {
            lost++;
            continue;
          }
          if (sha256(await getObject(s3, `${s.id}/${rel}`)) !== sha256(content)) corrupt++;
        }
        expect(keys).toContain(`${s.id}/manifest.json`);
        expect(
          created.filter((k) => k === `${s.id}/_COMPLETE`),
          `_COMPLETE writes for ${name}`,
        ).toHaveLength(1);
        expect(await readdir(join(root, 'processed', name)), name).not.toHaveLength(0);
      }
      expect(lost).toBe(0);
      expect(corrupt).toBe(0);
      expect((await readdir(join(root, 'processed'))).sort()).toEqual(
        Object.entries(all)
          .filter(([, s]) => s.complete)
          .map(([n]) => n)
          .sort(),
      );
      const completeSessions = Object.values(all).filter((s) => s.complete).length;
      const duplicates = created.filter((k) => k.endsWith('/_COMPLETE')).length - completeSessions;
      console.log(
        `[crash-loop] kills ${kills} (${killedMidUpload} mid-upload), sessions ${Object.keys(all).length} (${completeSessions} complete), lost ${lost}, corrupt ${corrupt}, duplicate _COMPLETE ${duplicates}`,
      );
      expect(duplicates).toBe(0);
      expect(killedMidUpload).toBeGreaterThan(0);
      const completeIds = Object.values(all)
        .filter((s) => s.complete)
        .map((s) => s.id);
      expect(await expectCompletedSessionsIntact(s3)).toEqual(completeIds.sort());
    } finally {
      s3.client.destroy();
      await proxy.close();
      await work.remove();
    }
  }, 600_000);
});
