/**
 * How far this host's clock is ahead of the database's (negative: behind), in seconds: the
 * database's reading against the midpoint of the round trip that fetched it.
 */
export function clockSkewSeconds(sentAtMs: number, receivedAtMs: number, databaseMs: number): number {
  return ((sentAtMs + receivedAtMs) / 2 - databaseMs) / 1000;
}

/**
 * Beyond this the skew is worth a warning: the agent decides on the database's time
 * (database-time.ts), but its log timestamps then disagree with the database's records.
 */
export const SKEW_WARNING_SECONDS = 2;

/** "300 s ahead of" or "2.5 s behind", for the messages that report a skew. */
export function describeSkew(skewSeconds: number, digits: number): string {
  return `${Math.abs(skewSeconds).toFixed(digits)} s ${skewSeconds >= 0 ? 'ahead of' : 'behind'}`;
}
