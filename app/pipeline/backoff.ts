/** Seconds to wait before attempt `attempt + 1`, after `attempt` failures (attempt ≥ 1). */
export function backoffSeconds(attempt: number, initialSeconds: number, maxSeconds: number): number {
  if (attempt < 1) return 0;
  const raw = initialSeconds * 2 ** (attempt - 1);
  return Math.min(raw, maxSeconds);
}

export type FailureOutcome = { status: 'failed'; retryAt: Date } | { status: 'needs_attention' };

/**
 * After a failed attempt: retry later with exponential backoff, or hand to a person
 * when the error cannot be fixed by retrying or the retries are spent.
 */
export function nextAfterFailure(input: {
  attempts: number;
  maxRetries: number;
  retryable: boolean;
  now: Date;
  initialBackoffSeconds: number;
  maxBackoffSeconds: number;
}): FailureOutcome {
  if (!input.retryable || input.attempts > input.maxRetries) return { status: 'needs_attention' };
  const delay = backoffSeconds(input.attempts, input.initialBackoffSeconds, input.maxBackoffSeconds);
  return { status: 'failed', retryAt: new Date(input.now.getTime() + delay * 1000) };
}
