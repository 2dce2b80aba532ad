import { describe, expect, it } from 'vitest';
import { MAX_PARTS, partSizeFor, partsInFlight } from '../../app/s3/part-size.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

describe('part size', () => {
  it('is the configured size while the file fits in 10,000 parts', () => {
    expect(partSizeFor(10 * GiB, 8 * MiB)).toBe(8 * MiB);
    expect(partSizeFor(8 * MiB * MAX_PARTS, 8 * MiB)).toBe(8 * MiB);
  });
  it('grows to the smallest whole MiB that fits for larger files', () => {
    const size = 200 * GiB;
    const part = partSizeFor(size, 8 * MiB);
    expect(part).toBe(21 * MiB);
    expect(Math.ceil(size / part)).toBeLessThanOrEqual(MAX_PARTS);
    expect(Math.ceil(size / (part - MiB))).toBeGreaterThan(MAX_PARTS);
    expect(partSizeFor(8 * MiB * MAX_PARTS + 1, 8 * MiB)).toBe(9 * MiB);
  });

  it("fits 1 TiB and 5 TiB (S3's largest object) in 10,000 parts, each within S3's 5 GiB part limit", () => {
    for (const [size, expected] of [
      [TiB, 105 * MiB],
      [5 * TiB, 525 * MiB],
    ] as const) {
      const part = partSizeFor(size, 8 * MiB);
      expect(part).toBe(expected);
      expect(Math.ceil(size / part)).toBeLessThanOrEqual(MAX_PARTS);
      expect(part).toBeLessThanOrEqual(5 * GiB);
    }
  });
});

describe('parts in flight', () => {
  const budget = 8 * MiB * 8;
  it('is the concurrency while parts are the configured size', () => {
    expect(partsInFlight(8 * MiB, budget, 8)).toBe(8);
    expect(partsInFlight(8 * MiB, 8 * MiB * 64, 16)).toBe(16);
  });
  it('shrinks so enlarged parts stay within the budget, never below one', () => {
    expect(partsInFlight(21 * MiB, budget, 8)).toBe(3);
    expect(partsInFlight(105 * MiB, budget, 8)).toBe(1);
    expect(partsInFlight(525 * MiB, budget, 8)).toBe(1);
  });
});
