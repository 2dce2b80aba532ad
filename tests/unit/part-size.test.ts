import { describe, expect, it } from 'vitest';
import { MAX_PARTS, partSizeFor } from '../../app/s3/part-size.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

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
});
