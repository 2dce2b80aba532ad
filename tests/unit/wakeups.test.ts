import { describe, expect, it } from 'vitest';
import { configSchema } from '../../app/config/schema.js';
import { nextCycleDelaySeconds } from '../../app/scheduler.js';
import { isWakeEvent, watchableRoots } from '../../app/watcher.js';

const config = (mode: 'auto' | 'on' | 'off') =>
  configSchema.parse({
    agent: { machine_id: 'm', lab_id: 'l', watch_for_changes: mode },
    watch: {
      session_roots: [
        { path: '/mnt/lab1/sessions', profile: 'p' },
        { path: '/data/local/sessions', profile: 'p' },
      ],
    },
    profiles: { p: { required_markers: ['session_summary.json', 'done/flag'] } },
    upload: { s3_bucket: 'bucket' },
    storage: { manifest_cache_dir: '/x/m', log_dir: '/x/l' },
  });

const MOUNTS = '/dev/vda / ext4 rw 0 0\nlab1:/export /mnt/lab1 nfs4 rw,vers=4.2 0 0\n';

describe('which roots are watched', () => {
  it('auto watches local disks only: inotify never sees another NFS client’s writes', () => {
    expect(watchableRoots(config('auto'), MOUNTS)).toEqual(['/data/local/sessions']);
  });
  it('on and off override the detection', () => {
    expect(watchableRoots(config('on'), MOUNTS)).toEqual(['/mnt/lab1/sessions', '/data/local/sessions']);
    expect(watchableRoots(config('off'), MOUNTS)).toEqual([]);
  });
});

describe('which events wake the loop', () => {
  const root = '/data/local/sessions';
  const markers = ['session_summary.json', 'done/flag'];
  it('a new session folder, or a required marker inside one', () => {
    expect(isWakeEvent(root, `${root}/run-1`, 'addDir', markers)).toBe(true);
    expect(isWakeEvent(root, `${root}/run-1/session_summary.json`, 'add', markers)).toBe(true);
    expect(isWakeEvent(root, `${root}/run-1/done/flag`, 'add', markers)).toBe(true);
  });
  it('not ordinary files, nested folders, processed/ or hidden folders', () => {
    expect(isWakeEvent(root, `${root}/run-1/data.csv`, 'add', markers)).toBe(false);
    expect(isWakeEvent(root, `${root}/run-1/raw`, 'addDir', markers)).toBe(false);
    expect(isWakeEvent(root, `${root}/processed/run-0`, 'addDir', markers)).toBe(false);
    expect(isWakeEvent(root, `${root}/.snapshot`, 'addDir', markers)).toBe(false);
    expect(isWakeEvent(root, `${root}/x/session_summary.json/extra`, 'add', markers)).toBe(false);
  });
});

describe('when the next cycle runs', () => {
  it('is the interval unless a waiting session’s window ends sooner, and never under a second', () => {
    expect(nextCycleDelaySeconds(60, null)).toBe(60);
    expect(nextCycleDelaySeconds(60, 0)).toBe(1);
    expect(nextCycleDelaySeconds(60, 12.2)).toBe(13);
    expect(nextCycleDelaySeconds(60, 300)).toBe(60);
  });
});
