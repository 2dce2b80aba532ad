import { describe, expect, it } from 'vitest';
import { compareUtf8 } from '../../app/share/session-listing.js';

const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

describe('compareUtf8', () => {
  it('orders as UTF-8 bytes where UTF-16 order differs (astral vs U+E000–U+FFFF)', () => {
    // UTF-16: "\u{1F600}" (surrogates D83D…) sorts before "\uFF21"; UTF-8 puts it after.
    expect(Math.sign(compareUtf8('\u{1F600}', '\uFF21'))).toBe(1);
    expect(Math.sign(compareUtf8('\uE000', '\uD7FF'))).toBe(1);
    expect(Math.sign(compareUtf8('a', 'a/b'))).toBe(-1);
    expect(compareUtf8('same/é', 'same/é')).toBe(0);
  });

  it('agrees with comparing the encoded bytes for every pair of a mixed set of names', () => {
    const names = [
      '',
      'a',
      'A',
      'a b',
      'a/b',
      'a-b',
      'Z',
      'é',
      'e\u0301',
      '\u00FF',
      '\u0100',
      '\u07FF',
      '\u0800',
      '\uD7FF',
      '\uE000',
      '\uFFFD',
      '\uFFFF',
      '\u{10000}',
      '\u{1F600}',
      '\u{10FFFF}',
      'x\u{1F600}y',
      'x\uFF21y',
      'файл',
      '数据',
      'run-1.1',
      'run-10',
    ];
    for (const a of names) for (const b of names) expect([a, b, Math.sign(compareUtf8(a, b))]).toEqual([a, b, byBytes(a, b)]);
  });
});
