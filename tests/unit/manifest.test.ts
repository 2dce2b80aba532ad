import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildManifest, canonicalJson, isoFromNs, manifestHash, prettyManifest, type Manifest } from '../../app/pipeline/manifest.js';
import type { SessionFile } from '../../app/share/session-listing.js';

const sha = (c: string) => c.repeat(64);
const files: SessionFile[] = [
  { relativePath: 'b/data.csv', absolutePath: '/r/S1/b/data.csv', size: 10, mtimeNs: 1_714_564_800_123_456_789n, change: null },
  { relativePath: 'a.json', absolutePath: '/r/S1/a.json', size: 5, mtimeNs: 0n, change: null },
];
const build = (
  shas = new Map([
    ['b/data.csv', sha('a')],
    ['a.json', sha('b')],
  ]),
) => buildManifest({ sessionId: 'S1', machineId: 'm1', labId: 'lab', sessionPath: '/r/S1', files, sha256: shas, skipped: [] });

describe('canonicalJson', () => {
  it('sorts keys recursively and has no whitespace', () => {
    const value = { z: 1, a: { y: [{ d: 1, c: 2 }], b: 'x y' }, m: null };
    expect(canonicalJson(value)).toBe('{"a":{"b":"x y","y":[{"c":2,"d":1}]},"m":null,"z":1}');
  });
  it('keeps array order', () => {
    expect(canonicalJson([3, 1, 2])).toBe('[3,1,2]');
  });
});

describe('buildManifest', () => {
  it('keeps the input order and fills the totals', () => {
    const m = build();
    expect(m.files.map((f) => f.relative_path)).toEqual(['b/data.csv', 'a.json']);
    expect(m.file_count).toBe(2);
    expect(m.total_bytes).toBe(15);
    expect(m.schema_version).toBe('1.0');
    expect(m).toMatchObject({ session_id: 'S1', machine_id: 'm1', lab_id: 'lab', session_path: '/r/S1' });
    expect(m.files[0]).toEqual({ relative_path: 'b/data.csv', size: 10, sha256: sha('a'), modified_time: '2024-05-01T12:00:00.123Z' });
    expect(m.files[1]?.modified_time).toBe('1970-01-01T00:00:00.000Z');
    expect(m.skipped_entries).toBeUndefined();
  });

  it('throws when a SHA-256 is missing', () => {
    expect(() => build(new Map([['b/data.csv', sha('a')]]))).toThrow(/a\.json/);
  });

  it('lists skipped entries when there are some', () => {
    const m = buildManifest({
      sessionId: 'S1',
      machineId: 'm',
      labId: 'l',
      sessionPath: '/p',
      files: [],
      sha256: new Map(),
      skipped: [{ relative_path: 'link', type: 'symlink' }],
    });
    expect(m.skipped_entries).toEqual([{ relative_path: 'link', type: 'symlink' }]);
    expect(m.file_count).toBe(0);
    expect(m.total_bytes).toBe(0);
  });
});

describe('manifest bytes and hash', () => {
  const m: Manifest = build();

  it('prettyManifest is the same object, pretty-printed with sorted keys', () => {
    const text = prettyManifest(m).toString('utf8');
    expect(text).toContain('\n  "file_count": 2,');
    expect(JSON.parse(text)).toEqual(JSON.parse(canonicalJson(m)));
    const keys = Object.keys(JSON.parse(text) as object);
    expect(keys).toEqual([...keys].sort());
    expect(text.indexOf('"file_count"')).toBeLessThan(text.indexOf('"files"'));
    expect(canonicalJson(JSON.parse(text))).toBe(canonicalJson(m));
  });

  it('manifestHash is sha256 of the canonical JSON', () => {
    const expected = createHash('sha256').update(canonicalJson(m), 'utf8').digest('hex');
    expect(manifestHash(m)).toBe(expected);
    expect(manifestHash(m)).toMatch(/^[0-9a-f]{64}$/);
    expect(manifestHash({ ...m, lab_id: 'other' })).not.toBe(expected);
  });

  it('the bytes are exactly JSON.stringify of the key-sorted object (pretty and canonical), for any content', () => {
    const sortKeys = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(sortKeys)
        : v !== null && typeof v === 'object'
          ? Object.fromEntries(
              Object.keys(v)
                .sort()
                .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
            )
          : v;
    const odd: SessionFile[] = ['q"uote\\back', 'ü/ñ/€', '😀 emoji', 'tab\tnew\nline', ...Array.from({ length: 3000 }, (_, i) => `d${i % 7}/f${i}.bin`)].map(
      (p, i) => ({
        relativePath: p,
        absolutePath: `/r/${p}`,
        size: i * 1000,
        mtimeNs: BigInt(i) * 1_000_000_007n,
        change: null,
      }),
    );
    const big = buildManifest({
      sessionId: 'S "2"',
      machineId: 'm',
      labId: 'l',
      sessionPath: '/r',
      files: odd,
      sha256: new Map(odd.map((f, i) => [f.relativePath, sha(String(i % 10))])),
      skipped: [{ relative_path: 'link', type: 'symlink' }],
    });
    for (const value of [big, m, { ...m, files: [] }]) {
      expect(prettyManifest(value).toString('utf8')).toBe(`${JSON.stringify(sortKeys(value), null, 2)}\n`);
      expect(canonicalJson(value)).toBe(JSON.stringify(sortKeys(value)));
      expect(manifestHash(value)).toBe(
        createHash('sha256')
          .update(JSON.stringify(sortKeys(value)), 'utf8')
          .digest('hex'),
      );
    }
  });

  it('the hash does not depend on key insertion order', () => {
    const reordered = Object.fromEntries(Object.entries(m).reverse()) as unknown as Manifest;
    expect(manifestHash(reordered)).toBe(manifestHash(m));
  });
});

describe('isoFromNs', () => {
  it('gives ISO 8601 UTC with milliseconds, truncating sub-ms digits', () => {
    expect(isoFromNs(0n)).toBe('1970-01-01T00:00:00.000Z');
    expect(isoFromNs(1_714_564_800_999_999_999n)).toBe('2024-05-01T12:00:00.999Z');
    expect(isoFromNs(1_500_000n)).toBe('1970-01-01T00:00:00.001Z');
  });
});
