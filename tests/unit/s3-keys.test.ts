import { describe, expect, it } from 'vitest';
import { MAX_KEY_BYTES, completeKey, manifestKey, objectKey, overlongKeys } from '../../app/pipeline/s3-keys.js';

describe('S3 keys', () => {
  const cases: [string, string][] = [
    ['', 'S1/data.csv'],
    ['/', 'S1/data.csv'],
    ['p', 'p/S1/data.csv'],
    ['p/', 'p/S1/data.csv'],
    ['/p//q/', 'p/q/S1/data.csv'],
  ];
  it.each(cases)('prefix %j → %s', (prefix, expected) => {
    expect(objectKey(prefix, 'S1', 'data.csv')).toBe(expected);
  });

  it('keeps nested relative paths', () => {
    expect(objectKey('lab/raw', 'S1', 'a/b/c.bin')).toBe('lab/raw/S1/a/b/c.bin');
    expect(objectKey('', 'S1', 'a/b/c.bin')).toBe('S1/a/b/c.bin');
  });

  it('manifest and _COMPLETE keys sit beside the files', () => {
    expect(manifestKey('', 'S1')).toBe('S1/manifest.json');
    expect(manifestKey('/p//q/', 'S1')).toBe('p/q/S1/manifest.json');
    expect(completeKey('p/', 'S1')).toBe('p/S1/_COMPLETE');
    expect(completeKey('/', 'S1')).toBe('S1/_COMPLETE');
  });

  it('never produces empty segments or leading/trailing slashes', () => {
    for (const prefix of ['', '/', 'p', 'p/', '/p//q/', '//']) {
      for (const key of [objectKey(prefix, 'S1', 'x/y.csv'), manifestKey(prefix, 'S1'), completeKey(prefix, 'S1')]) {
        expect(key.split('/').every((s) => s.length > 0)).toBe(true);
      }
    }
  });
});

describe('keys longer than S3 allows', () => {
  it('counts UTF-8 bytes of the whole key, prefix and session id included', () => {
    const name = 'é'.repeat(510); // 1,020 bytes in 510 characters
    expect(overlongKeys('', 'S1', [name])).toEqual([]); // 1,023 bytes
    expect(overlongKeys('p', 'S1', [name])).toEqual([{ relativePath: name, bytes: 1025 }]);
    expect(overlongKeys('p', 'S1', ['data.csv'])).toEqual([]);
  });

  it('allows exactly 1,024 bytes and lists the overlong ones longest first', () => {
    const exact = 'a'.repeat(MAX_KEY_BYTES - 'S1/'.length);
    expect(overlongKeys('', 'S1', [exact])).toEqual([]);
    expect(overlongKeys('', 'S1', [`${exact}b`, 'short.csv', `${exact}bcd`])).toEqual([
      { relativePath: `${exact}bcd`, bytes: 1027 },
      { relativePath: `${exact}b`, bytes: 1025 },
    ]);
  });
});
