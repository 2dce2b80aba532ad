import { describe, expect, it } from 'vitest';
import { backoffSeconds, nextAfterFailure } from '../../app/pipeline/backoff.js';

describe('backoffSeconds', () => {
  it('doubles from the initial delay and caps at the maximum', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffSeconds(n, 30, 3600))).toEqual([30, 60, 120, 240, 480, 960, 1920, 3600]);
    expect(backoffSeconds(50, 30, 3600)).toBe(3600);
    expect(backoffSeconds(3, 30, 100)).toBe(100);
  });
  it('is 0 before any failure', () => {
    expect(backoffSeconds(0, 30, 3600)).toBe(0);
  });
});

describe('nextAfterFailure', () => {
  const now = new Date('2024-05-01T00:00:00.000Z');
  const base = { maxRetries: 3, retryable: true, now, initialBackoffSeconds: 30, maxBackoffSeconds: 3600 };

  it('retries a retryable error later with the backoff delay', () => {
    expect(nextAfterFailure({ ...base, attempts: 1 })).toEqual({ status: 'failed', retryAt: new Date(now.getTime() + 30_000) });
    expect(nextAfterFailure({ ...base, attempts: 3 })).toEqual({ status: 'failed', retryAt: new Date(now.getTime() + 120_000) });
  });

  it('hands over to a person once the retries are spent', () => {
    expect(nextAfterFailure({ ...base, attempts: 4 })).toEqual({ status: 'needs_attention' });
    expect(nextAfterFailure({ ...base, attempts: 40 })).toEqual({ status: 'needs_attention' });
  });

  it('a non-retryable error needs attention immediately', () => {
    expect(nextAfterFailure({ ...base, attempts: 1, retryable: false })).toEqual({ status: 'needs_attention' });
  });

  it('maxRetries 0: the first failure needs attention', () => {
    expect(nextAfterFailure({ ...base, maxRetries: 0, attempts: 1 })).toEqual({ status: 'needs_attention' });
  });
});
