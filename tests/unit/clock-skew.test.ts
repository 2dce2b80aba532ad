import { describe, expect, it } from 'vitest';
import { clockSkewSeconds, describeSkew, skewThresholdSeconds } from '../../app/state/clock-skew.js';

describe('clock skew against the database', () => {
  it('compares the database reading with the middle of the round trip that fetched it', () => {
    // Sent at 1,000 ms and answered at 1,100 ms by a database that read 1,050: no skew.
    expect(clockSkewSeconds(1_000, 1_100, 1_050)).toBe(0);
    // This host 5 minutes ahead: the database reads 300 s earlier than the midpoint.
    expect(clockSkewSeconds(400_000, 400_010, 100_005)).toBe(300);
    expect(clockSkewSeconds(100_000, 100_000, 130_000)).toBe(-30);
  });

  it('is described as ahead of or behind', () => {
    expect(describeSkew(300.04, 0)).toBe('300 s ahead of');
    expect(describeSkew(-2.46, 1)).toBe('2.5 s behind');
  });

  it('matters from a quarter of the lease, never below 2 s', () => {
    expect(skewThresholdSeconds(60)).toBe(15);
    expect(skewThresholdSeconds(5)).toBe(2);
    expect(skewThresholdSeconds(600)).toBe(150);
  });
});
