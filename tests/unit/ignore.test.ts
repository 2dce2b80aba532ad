import { describe, expect, it } from 'vitest';
import { compileGlob, ignoreMatcher } from '../../app/share/ignore-patterns.js';

describe('ignoreMatcher', () => {
  it('matches *.tmp by file name at any depth', () => {
    const m = ignoreMatcher(['*.tmp']);
    expect(m('a.tmp')).toBe(true);
    expect(m('x/y/z/a.tmp')).toBe(true);
    expect(m('a.tmp.csv')).toBe(false);
    expect(m('tmp')).toBe(false);
    expect(m('dir.tmp/data.csv')).toBe(false);
  });

  it('matches a pattern with a slash against the relative path only', () => {
    const m = ignoreMatcher(['raw/*.bin']);
    expect(m('raw/a.bin')).toBe(true);
    expect(m('a.bin')).toBe(false);
    expect(m('other/raw/a.bin')).toBe(false);
    expect(m('raw/sub/a.bin')).toBe(false);
  });

  it('** spans segments', () => {
    const m = ignoreMatcher(['cache/**', '**/logs/*.txt']);
    expect(m('cache/a')).toBe(true);
    expect(m('cache/a/b/c.csv')).toBe(true);
    expect(m('logs/x.txt')).toBe(true);
    expect(m('a/b/logs/x.txt')).toBe(true);
    expect(m('a/b/logs/sub/x.txt')).toBe(false);
    expect(m('data/cache.csv')).toBe(false);
  });

  it('matches nothing with no patterns', () => {
    const m = ignoreMatcher([]);
    expect(m('a.tmp')).toBe(false);
    expect(m('')).toBe(false);
  });
});

describe('compileGlob', () => {
  it('? matches exactly one character, not a slash', () => {
    const re = compileGlob('file?.csv');
    expect(re.test('file1.csv')).toBe(true);
    expect(re.test('file.csv')).toBe(false);
    expect(re.test('file12.csv')).toBe(false);
    expect(compileGlob('a?b').test('a/b')).toBe(false);
  });

  it('* does not cross a slash', () => {
    expect(compileGlob('a*').test('a/b')).toBe(false);
    expect(compileGlob('a*').test('abc')).toBe(true);
  });

  it('supports character classes, ranges and [!...] negation', () => {
    const re = compileGlob('run[0-9][abc].dat');
    expect(re.test('run7b.dat')).toBe(true);
    expect(re.test('runxb.dat')).toBe(false);
    expect(re.test('run7d.dat')).toBe(false);
    const neg = compileGlob('[!_]*.csv');
    expect(neg.test('data.csv')).toBe(true);
    expect(neg.test('_hidden.csv')).toBe(false);
  });

  it('treats regex metacharacters literally', () => {
    expect(compileGlob('a+b.txt').test('a+b.txt')).toBe(true);
    expect(compileGlob('a+b.txt').test('aab.txt')).toBe(false);
    expect(compileGlob('a+b.txt').test('a+bxtxt')).toBe(false);
    expect(compileGlob('(1).csv').test('(1).csv')).toBe(true);
    expect(compileGlob('(1).csv').test('1.csv')).toBe(false);
    expect(compileGlob('^$|{2}').test('^$|{2}')).toBe(true);
    expect(compileGlob('a\\b').test('a\\b')).toBe(true);
  });

  // In glob syntax a `]` right after `[` or `[!` is a literal member of the class; copied
  // as is, `[]a]` would be /^[]a]$/ (an empty JS class) and match nothing at all.
  it('a ] first in a class is literal', () => {
    expect(compileGlob('[]a]').test(']')).toBe(true);
    expect(compileGlob('[]a]').test('a')).toBe(true);
  });

  it('an unclosed [ is literal', () => {
    expect(compileGlob('[abc').test('[abc')).toBe(true);
  });
});

describe('character classes and the path separator', () => {
  it('a class never matches "/"', () => {
    expect(ignoreMatcher(['raw[!x]*.bin'])('raw/y.bin')).toBe(false);
    expect(ignoreMatcher(['a[/]b'])('a/b')).toBe(false);
    expect(ignoreMatcher(['raw[!x]*.bin'])('rawy.bin')).toBe(true);
  });
});
