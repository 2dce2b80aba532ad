import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { foreseeSessions } from '../../app/cli/foresee-folder.js';
import { runCycle } from '../../app/scheduler.js';
import type { Share } from '../../app/share/share.js';
import { LocalShare } from '../../app/share/local-share.js';
import { listSessions } from '../../app/state/queries/operator.js';
import type { TestDatabase } from '../helpers/database.js';
import { testConfig, testDeps, writeSession } from '../helpers/fixtures.js';
import type { TestS3 } from '../helpers/s3.js';
import { useSessionRig } from '../helpers/session-rig.js';

let database: TestDatabase;
let s3: TestS3;
let work: { path: string; remove(): Promise<void> };
let root: string;
useSessionRig('foresight-bucket', (rig) => ({ database, s3, work, root } = rig));

/** A share whose every call hangs, as a hard kernel NFS mount to a server that went away does. */
function hungShare(): { share: Share; calls: () => number } {
  let calls = 0;
  const local = new LocalShare();
  const share = new Proxy(local, {
    get(target, key: keyof Share) {
      if (key === 'close') return () => target.close();
      return () => {
        calls++;
        return new Promise(() => undefined);
      };
    },
  });
  return { share, calls: () => calls };
}

describe('status on a share that does not answer', () => {
  it('says it cannot tell, within its deadline, and asks that root no more', { timeout: 60_000 }, async () => {
    const { deps } = testDeps(testConfig({ root, work: work.path, s3 }), database, s3);
    await writeSession(join(root, 'run-a'), { 'data.csv': '1\n', 'session_summary.json': '{}' });
    await writeSession(join(root, 'run-b'), { 'data.csv': '2\n', 'session_summary.json': '{}' });
    await runCycle(deps, new AbortController().signal);
    const rows = await listSessions(database.db);
    expect(rows).toHaveLength(2);

    const hung = hungShare();
    const verdicts = await foreseeSessions(
      { config: deps.config, db: database.db, share: hung.share, now: new Date(), signal: new AbortController().signal },
      rows,
    );
    expect([...verdicts.values()]).toEqual([
      { action: 'unknown', reason: 'cannot tell now: the share did not answer within 10 s' },
      { action: 'unknown', reason: 'cannot tell now: the share did not answer within 10 s' },
    ]);
    // Only the first session's first look went to the share.
    expect(hung.calls()).toBe(1);
  });
});
