import { describe, expect, it } from 'vitest';
import { describeChanges, folderChanges } from '../../app/pipeline/folder-changes.js';

const file = (relativePath: string, size: number, mtimeNs: bigint) => ({ relativePath, absolutePath: `/s/${relativePath}`, size, mtimeNs, change: null });
const record = (relativePath: string, size: number, mtimeNs: string) => ({ relativePath, size, mtimeNs });

describe('changes since the upload', () => {
  it('finds added, removed and changed files by size and mtime', () => {
    const uploaded = [record('a.csv', 10, '100'), record('b.csv', 20, '200'), record('c.csv', 30, '300'), record('d.csv', 40, '400')];
    const now = [file('a.csv', 10, 100n), file('b.csv', 21, 200n), file('c.csv', 30, 301n), file('late.log', 5, 500n)];
    expect(folderChanges(uploaded, now)).toEqual({ added: ['late.log'], removed: ['d.csv'], changed: ['b.csv', 'c.csv'] });
  });

  it('nothing differs: nothing to say', () => {
    const c = folderChanges([record('a.csv', 10, '100')], [file('a.csv', 10, 100n)]);
    expect(c).toEqual({ added: [], removed: [], changed: [] });
    expect(describeChanges(c)).toBe('');
  });

  it('describes each kind, at most five names each', () => {
    const added = Array.from({ length: 7 }, (_, i) => `frame-${i}.tif`);
    expect(describeChanges({ added, changed: ['data.csv'], removed: [] })).toBe(
      'added frame-0.tif, frame-1.tif, frame-2.tif, frame-3.tif, frame-4.tif (+2 more); changed data.csv',
    );
    expect(describeChanges({ added: [], changed: [], removed: ['x'] })).toBe('removed x');
  });
});
