import type { Db } from '../state/db.js';
import { classifyError, redactSecrets } from '../errors.js';

/**
 * Healthy while cycles keep completing and the state database answers. A cycle may run long
 * (a big upload), so only a loop silent for 10 intervals (at least 10 minutes) counts as wedged.
 */
export function livenessCheck(input: { db: Db; intervalSeconds: number; startedAt: number; lastCycleEnd: () => Date | null; now?: () => number }) {
  const now = input.now ?? Date.now;
  return async (): Promise<string | null> => {
    const last = input.lastCycleEnd()?.getTime() ?? input.startedAt;
    const silent = (now() - last) / 1000;
    const limit = Math.max(input.intervalSeconds * 10, 600);
    if (silent > limit) return `no scan cycle has completed for ${Math.round(silent)}s (limit ${limit}s)`;
    try {
      await Promise.race([input.db.query('SELECT 1'), new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 3 s')), 3000).unref())]);
    } catch (err) {
      return `state database does not answer: ${redactSecrets(classifyError(err).message)}`;
    }
    return null;
  };
}
