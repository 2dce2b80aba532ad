import { describe, expect, it } from 'vitest';
import { attributeCacheSeconds, nfsWindowWarnings, parseMounts } from '../../app/share/nfs-window.js';

const MOUNTS = `/dev/vda / ext4 rw,relatime 0 0
labpc1:/export/sessions /mnt/lab1 nfs4 rw,relatime,vers=4.2,hard,proto=tcp 0 0
labpc2:/data /mnt/lab2 nfs rw,relatime,vers=3,acregmax=30,acdirmax=90 0 0
labpc3:/data /mnt/lab\\0403 nfs4 rw,noac 0 0
labpc4:/data /mnt/lab4 nfs4 rw,actimeo=10 0 0
tmpfs /mnt/lab1/scratch tmpfs rw 0 0`;

describe('NFS attribute caching vs the stability window', () => {
  it('reads the attribute cache time from the mount options', () => {
    expect(attributeCacheSeconds(['rw'])).toBe(60);
    expect(attributeCacheSeconds(['acregmax=30', 'acdirmax=90'])).toBe(90);
    expect(attributeCacheSeconds(['actimeo=10'])).toBe(10);
    expect(attributeCacheSeconds(['noac'])).toBe(0);
  });

  it('decodes escaped mount points', () => {
    expect(parseMounts(MOUNTS).map((m) => m.mountPoint)).toContain('/mnt/lab 3');
  });

  it('warns for NFS roots whose window is under twice the cache time, using the deepest mount', () => {
    const roots = ['/mnt/lab1/sessions', '/mnt/lab2/s', '/mnt/lab 3/s', '/mnt/lab4/s', '/mnt/lab1/scratch/s', '/srv/local'];
    const warnings = nfsWindowWarnings(MOUNTS, roots, 100);
    expect(warnings.map((w) => [w.root, w.minimumWindowSeconds])).toEqual([
      ['/mnt/lab1/sessions', 120],
      ['/mnt/lab2/s', 180],
    ]);
    expect(nfsWindowWarnings(MOUNTS, roots, 300)).toEqual([]);
  });

  it('does not treat /mnt/lab10 as inside /mnt/lab1', () => {
    expect(nfsWindowWarnings(MOUNTS, ['/mnt/lab10/s'], 0)).toEqual([]);
  });
});
